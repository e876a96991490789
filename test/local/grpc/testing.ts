// For the local gRPC services' tests: the gRPC status and details a call
// failed with (the official clients reject with an error carrying both).
export async function rejection(call: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await call;
  } catch (err) {
    const e = err as { code?: number; details?: string };
    return { code: e.code ?? -1, details: e.details ?? String(err) };
  }
  throw new Error("expected the call to fail");
}
