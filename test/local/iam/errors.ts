// The local IAM's authentication failure, shared by everything that resolves callers.

/** An authentication failure: answered 401 by the emulators. */
export class IamAuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "IamAuthError";
  }
}
