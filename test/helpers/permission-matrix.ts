// The seed's permission matrix, for one credential mode: every permission of
// the seed's list removed in turn (on the dataset and on the project), each
// run of both models either still completing (the permission is not needed;
// a warning names it when it was only wanted) or failing naming it. Then the
// permissions found needed must be exactly what the write paths declare
// (core/write-path.ts, the README's permissions table).
import { describe, expect, it } from "vitest";
import { PATH_PERMISSIONS } from "../../functions/src/core/write-path.js";
import { PERIOD } from "../fixtures/posthog-fixtures.js";
import { PERMISSIONS, SEED_CUSTOM_ROLE, withoutPermission } from "../local/iam/roles.js";
import type { Destination, DestinationCredentials, LocalStack } from "../local/stack.js";
import { interval, runExport, waitForRun } from "./stack-helpers.js";

type Model = "events" | "persons";

export function describePermissionMatrix(
  stack: () => LocalStack,
  mode: DestinationCredentials,
  definition: (id: string, dest: Destination, model: Model) => { id: string } & Record<string, unknown>,
): void {
  describe(`the seed's permissions, each removed in turn (credentials: ${mode})`, () => {
    const needed: Record<Model, string[]> = { events: [], persons: [] };
    const recommended: Record<Model, string[]> = { events: [], persons: [] };

    it.each(SEED_CUSTOM_ROLE.permissions.map((p) => [p]))("without %s", async (permission) => {
      const s = stack();
      const suffix = permission
        .replace(/^bigquery\./, "")
        .replace(/\./g, "_")
        .toLowerCase();
      // The functions' own identity is shared by every keyless case: start
      // each from no project grant, so an earlier case's grant does not hide
      // the permission this case removes.
      if (mode === "function") s.iam.revoke(s.functionsServiceAccount, { projectId: s.projectId });
      const dest = await s.createDestination({
        datasetId: `Without_${suffix}_${mode}`,
        role: withoutPermission(SEED_CUSTOM_ROLE, permission),
        projectRole: withoutPermission(SEED_CUSTOM_ROLE, permission),
        credentials: mode,
      });
      for (const model of ["events", "persons"] as const) {
        const id = `${mode.slice(0, 3)}-${suffix.replace(/_/g, "-")}-${model.slice(0, 3)}`
          .slice(0, 29)
          .replace(/-$/, "");
        await runExport(s, definition(id, dest, model), { dataInterval: interval(PERIOD) });
        const run = await waitForRun(s, id, PERIOD);
        if (run.state === "FAILED") {
          expect(run.error?.message, `${model} without ${permission}`).toContain(permission);
          needed[model].push(permission);
        } else {
          expect(run.state, `${model} without ${permission}: ${run.error?.message ?? ""}`).toBe("COMPLETED");
          for (const w of run.warnings ?? []) expect(w).toContain(permission);
          if ((run.warnings ?? []).length > 0) recommended[model].push(permission);
        }
      }
    });

    it("uses exactly the permissions the write paths declare (core/write-path.ts, the README's table)", () => {
      // A scheduled events run appends; persons MERGE through a stage table,
      // whose drop (tables.delete) only warns when denied. tables.list is never used.
      expect(needed.events.sort()).toEqual([...PATH_PERMISSIONS.append].sort());
      expect(recommended.events).toEqual([]);
      expect(needed.persons.sort()).toEqual(
        PATH_PERMISSIONS["merge-versions"].filter((p) => p !== PERMISSIONS.tablesDelete).sort(),
      );
      expect(recommended.persons).toEqual([PERMISSIONS.tablesDelete]);
    });
  });
}
