// ID tokens for the local services that call an OIDC-authenticated target on a
// service account's behalf (Cloud Scheduler and Cloud Tasks HTTP targets).

/**
 * An unsigned JWT with a Google ID token's claims (issuer, audience, the account's email):
 * enough for a local target to see who calls it and for which audience. Not verifiable,
 * by design: nothing local holds Google's signing keys.
 */
export function unsignedIdToken(audience: string, email: string, now: Date): string {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const iat = Math.floor(now.getTime() / 1000);
  return `${enc({ alg: "none", typ: "JWT" })}.${enc({ iss: "https://accounts.google.com", aud: audience, email, email_verified: true, sub: email, iat, exp: iat + 3600 })}.`;
}

/** How a local service obtains the ID token it sends as "Authorization: Bearer …". */
export type OidcTokenMinter = (audience: string, serviceAccountEmail: string) => string;
