// How requests to exportRun are authenticated. Cloud Run (which serves the
// function) wants a Google-signed ID token whose audience is the service's
// URL: google-auth-library mints one from application default credentials
// (a service account key, the metadata server, or `gcloud auth
// application-default login`). Two ways around it:
// - a loopback URL (127.0.0.1, localhost, [::1]) gets no token: that is the
//   local stack (`npm run stack`), or `gcloud run services proxy`, which
//   authenticates for you;
// - BQX_ID_TOKEN holds a token to send as is, e.g.
//   BQX_ID_TOKEN=$(gcloud auth print-identity-token).
import { usageError } from "./errors.js";

export type HeadersSource = () => Promise<Record<string, string>>;

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

export function isLoopback(url: URL): boolean {
  return LOOPBACK.test(url.hostname);
}

/** The audience of exportRun's ID token: its URL without query or fragment. */
export function audienceOf(url: URL): string {
  return `${url.origin}${url.pathname === "/" ? "" : url.pathname}`;
}

export function authHeaders(url: URL, env: Record<string, string | undefined>): HeadersSource {
  if (isLoopback(url)) return () => Promise.resolve({});
  const token = env.BQX_ID_TOKEN?.trim();
  if (token) return () => Promise.resolve({ Authorization: `Bearer ${token}` });
  const audience = audienceOf(url);
  let client:
    Promise<{ getRequestHeaders(url?: string): Promise<Headers | Record<string, string>> }> | undefined;
  return async () => {
    try {
      client ??= import("google-auth-library").then(({ GoogleAuth }) =>
        new GoogleAuth().getIdTokenClient(audience),
      );
      const headers = await (await client).getRequestHeaders(audience);
      const auth = headers instanceof Headers ? headers.get("authorization") : headers.Authorization;
      if (!auth) throw new Error("no Authorization header");
      return { Authorization: auth };
    } catch (err) {
      client = undefined;
      throw usageError(
        `cannot get an ID token for ${audience}: ${err instanceof Error ? err.message : String(err)}`,
        "run `gcloud auth application-default login` (or point GOOGLE_APPLICATION_CREDENTIALS at a service account key), or set BQX_ID_TOKEN=$(gcloud auth print-identity-token)",
      );
    }
  };
}
