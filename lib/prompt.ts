// Asks for what the seed asked for ("Enter your IP"...), on a terminal only.
import readline from 'node:readline/promises';

export function canPrompt(): boolean {
  return Boolean(process.stdin.isTTY && process.stderr.isTTY);
}

/** Asks each question in turn, showing its default; an empty answer takes the default. */
export async function ask(questions: Array<{ text: string; fallback: string }>): Promise<string[]> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answers: string[] = [];
    for (const { text, fallback } of questions) {
      const answer = (await rl.question(`${text} [${fallback}]: `)).trim();
      answers.push(answer || fallback);
    }
    return answers;
  } finally {
    rl.close();
  }
}
