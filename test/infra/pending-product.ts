// What infra/ already provides that the product (functions/src) does not read
// yet: the integrator wires these into the code. Each test that holds infra/
// to the code leaves out exactly these names, and fails as soon as the code
// knows one of them, so this list only ever shrinks: delete a name here once
// the code has it.

/** Export definition fields Terraform stores that exportDefinitionSchema does not know yet. */
export const PENDING_DEFINITION_FIELDS: readonly string[] = [];

/** exportRun environment variables Terraform sets that functions/src/config.ts does not read yet. */
export const PENDING_ENV: readonly string[] = [];
