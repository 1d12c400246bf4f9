import { ERROR_CODES } from './errors.js';

/** The error catalogue as a Markdown table, for docs/errors.md. */
export function errorsMarkdown(): string {
  const rows = Object.entries(ERROR_CODES).map(([code, text]) => `| \`${code}\` | ${text} |`);
  return ['| code | meaning |', '| --- | --- |', ...rows].join('\n') + '\n';
}
