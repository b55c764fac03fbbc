// Human messages go to stderr (stdout is for --stats JSON lines).
export function notice(message: string): void {
  process.stderr.write(`cvchat: ${message}\n`);
}
