/**
 * An error whose message is meant for the operator as it is: the CLI prints it without a stack
 * trace and exits non-zero. Anything else reaching the top is a bug and keeps its stack.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
