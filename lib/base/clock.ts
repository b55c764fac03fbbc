/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes on one machine. */
export function wallClock(): number {
  return performance.timeOrigin + performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
