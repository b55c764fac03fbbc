// Asks for what the classic Python scripts asked for ("Enter your IP"...), on a terminal only.
import readline from 'node:readline';

import { CvchatError } from '../base/errors';

export function canPrompt(): boolean {
  return Boolean(process.stdin.isTTY && process.stderr.isTTY);
}

/**
 * Asks each question in turn, showing its default; an empty answer takes the default. Answers are
 * read through readline's line iterator, which buffers, so answers typed (or pasted) ahead of
 * their question are not lost.
 */
export async function ask(questions: Array<{ text: string; fallback: string }>): Promise<string[]> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  const lines = rl[Symbol.asyncIterator]();
  try {
    const answers: string[] = [];
    for (const { text, fallback } of questions) {
      rl.setPrompt(`${text} [${fallback}]: `);
      rl.prompt();
      const line = await lines.next();
      if (line.done) {
        throw new CvchatError('CVCHAT_NO_ANSWER', `No answer to "${text}" (input closed); give the address as an option instead (see --help)`);
      }
      answers.push(line.value.trim() || fallback);
    }
    return answers;
  } finally {
    rl.close();
  }
}
