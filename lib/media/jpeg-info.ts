// The quality a JPEG was made at, read from its headers without decoding (its size comes from the
// addon's probeImage). It is estimated from its luminance quantisation table: libjpeg (and
// so OpenCV, cameras' firmware more often than not, and GStreamer's jpegenc) scales the standard
// table of the JPEG specification (Annex K) by a factor that follows from the quality. A source's
// own JPEG, sent as it is, has no quality cvchat chose: this says what it is, for the HUD and
// --stats. Only the markers before the first frame header are read; nothing is decoded.

/** The specification's luminance table (Annex K.1): its sum is what quality scales. */
const STANDARD_LUMINANCE_SUM = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
  18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
].reduce((a, b) => a + b, 0);

/** 1-100, or 0 when the JPEG has no table 0 before its first scan (or is not a JPEG). */
export function estimateJpegQuality(jpeg: Buffer): number {
  if (jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8) return 0;
  let at = 2;
  while (at + 4 <= jpeg.length) {
    if (jpeg[at] !== 0xff) return 0;
    const marker = jpeg[at + 1];
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    if (marker === 0xda || marker === 0xd9) return 0; // a scan (or the end) before any table 0
    const length = jpeg.readUInt16BE(at + 2);
    const end = at + 2 + length;
    if (length < 2 || end > jpeg.length) return 0;
    if (marker === 0xdb) {
      // One or more tables: a byte of precision (high nibble) and id (low), then 64 values.
      for (let table = at + 4; table < end; ) {
        const wide = jpeg[table] >> 4 === 1;
        const id = jpeg[table] & 0x0f;
        const size = 1 + 64 * (wide ? 2 : 1);
        if (table + size > end) return 0;
        if (id === 0) {
          let sum = 0;
          for (let i = 0; i < 64; i++) sum += wide ? jpeg.readUInt16BE(table + 1 + 2 * i) : jpeg[table + 1 + i];
          return qualityOfScale((100 * sum) / STANDARD_LUMINANCE_SUM);
        }
        table += size;
      }
    }
    at = end;
  }
  return 0;
}

/** libjpeg's quality-to-scale mapping, inverted: 50 is the table as it is, 100 all ones. */
function qualityOfScale(scalePercent: number): number {
  const quality = scalePercent <= 100 ? (200 - scalePercent) / 2 : 5000 / scalePercent;
  return Math.max(1, Math.min(100, Math.round(quality)));
}
