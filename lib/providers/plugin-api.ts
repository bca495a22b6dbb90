/**
 * What a provider plugin may import from `conveyor` (package.json `exports`): the typed
 * identity helper, the error with a retry policy, and the types of the context `run` receives.
 * A plain .mjs plugin needs none of it (see README, "Writing a provider").
 */
export { ProviderError } from './errors.js';
export { Suspension, defineProvider } from './types.js';
export type { CredentialData, CredentialType, Json, JsonSchema, JsonSchemaProvider, Provider, ProviderContext, ProviderSettings } from './types.js';
export type { Fetch } from '../http/guarded-fetch.js';
