// finalizeRun: the CloudEvent of a BigQuery job's audit entry. Not ours, or a
// poison message: logged and acknowledged. A retryable failure throws, so
// Pub/Sub redelivers; a permanent one is recorded on the run and acknowledged.
import { decodeAuditEvent } from "../core/audit-event.js";
import { toExportError } from "../core/errors.js";
import type { AppDeps } from "../app/deps.js";
import { finalizeJob, type FinalizeOutcome } from "../app/finalize-run.js";

export async function handleFinalizeEvent(data: unknown, deps: AppDeps): Promise<FinalizeOutcome> {
  const decision = decodeAuditEvent(data);
  if (decision.kind === "ignore") {
    deps.log.debug("ignored event", { reason: decision.reason });
    return { kind: "ignored", reason: decision.reason };
  }
  const { job } = decision;
  const log = deps.log.child({
    export: job.exportId,
    run: job.runId,
    job: job.jobId,
    messageId: job.messageId,
  });
  try {
    const outcome = await finalizeJob(job, deps);
    if (outcome.kind === "ignored") log.info("nothing to finalize", { reason: outcome.reason });
    else
      log.info("finalized", {
        outcome: outcome.kind,
        state: outcome.manifest.state,
      });
    return outcome;
  } catch (err) {
    const e = toExportError(err);
    if (e.retryable) {
      log.warn("finalize failed, will be redelivered", { error: e.toJSON() });
      throw e;
    }
    log.error("finalize failed", { error: e.toJSON() });
    return { kind: "ignored", reason: e.message };
  }
}
