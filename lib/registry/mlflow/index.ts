/**
 * mlo's typed client for the MLflow REST API 2.0 (`/api/2.0/mlflow/...`) and the tracking
 * server's artifact proxy (`/api/2.0/mlflow-artifacts/...`, `mlflow server --serve-artifacts`).
 * Written against MLflow 3.17; endpoints, field names and error codes follow
 * `mlflow/server/handlers.py` and the protos. The modules: types.ts (the public types),
 * errors.ts (MlflowError and its kinds), wire.ts (MLflow's JSON and its mapping), client.ts
 * (MlflowClient: transport and endpoints).
 *
 * Conventions
 * - The wire format is MLflow's snake_case JSON; every type this module exports is camelCase.
 *   The mapping happens in one place (the `fromWire*` functions of wire.ts). Absent repeated
 *   fields (MLflow omits empty lists) become `[]`, absent strings become `''`; timestamps are
 *   epoch ms.
 * - Tags, params and metrics are arrays, as on the wire; `tagsOf` and `metricsOf` read them as maps.
 * - Every call takes `{ signal?, timeoutMs? }`. Each HTTP attempt is bounded by the request
 *   timeout combined with the caller's signal. An aborted call rejects at once with the
 *   signal's reason (a DOMException `AbortError` by default) and never retries.
 * - Authentication: HTTP Basic for `mlflow server --app-name basic-auth` (credentials.ts): the
 *   client's `credentials`, else this process's credentials for that server, else
 *   MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD. 401 and 403 are final and say what to set.
 * - Retries: connection errors (ECONNREFUSED, ECONNRESET, fetch's `TypeError: fetch failed`),
 *   per-request timeouts, HTTP 5xx and 429 retry with exponential backoff and jitter
 *   (`Retry-After` is honoured up to `maxDelayMs`). 4xx never retries. When retries run out
 *   the call throws `MlflowUnavailableError`. The defaults ride out about 40-75 s of downtime.
 * - Errors are `MlflowError`s with `kind` ('not_found' | 'already_exists' | 'invalid_input' |
 *   'unavailable' | 'other'), `status`, `errorCode` (MLflow's `error_code`), `method`,
 *   `endpoint` and MLflow's own message (`serverMessage`). Subclasses exist per kind, and
 *   `isRetryable(err)` says whether trying again later can help.
 *
 * MLflow 3.17 behaviour this client relies on (checked against the real server):
 * - RESOURCE_ALREADY_EXISTS is HTTP 400 (not 409); RESOURCE_DOES_NOT_EXIST is 404.
 * - `GET registered-models/alias` for an alias that is not set answers 400
 *   INVALID_PARAMETER_VALUE "Registered model alias <a> not found." (the model itself missing is
 *   404 RESOURCE_DOES_NOT_EXIST); `getModelVersionByAlias` maps the former to `undefined`.
 * - `DELETE registered-models/alias` answers 200 when the alias is absent.
 * - `model-versions/search` filters on `name`, `version_number`, `run_id`, `source_path`
 *   (=, !=, LIKE, ILIKE, IN for name/run_id) and on `tags.<key>` (=, !=, LIKE, ILIKE), joined
 *   with `and`. Keys with dots or dashes need backticks (`tags.\`mlo.hash\``); string values
 *   take single or double quotes with no escaping (see `quoteFilterValue`). Search results do
 *   not carry `aliases`; `getModelVersion` and `getModelVersionByAlias` do.
 * - A run's `artifact_uri` is `mlflow-artifacts:/<experiment_id>/<run_id>/artifacts`; the proxy
 *   serves it at `/api/2.0/mlflow-artifacts/artifacts/<experiment_id>/<run_id>/artifacts/<path>`
 *   (PUT uploads the raw body, GET downloads it, `GET ...artifacts?path=` lists basenames).
 *   A missing artifact in an S3 store answers 500 INTERNAL_ERROR "...(404)...Not Found"; the
 *   client maps it to a non-retried not-found error.
 * - log-batch limits: 1000 metrics, 100 params, 100 tags and 1000 entities per request.
 * - Metric values NaN/±Infinity travel as the strings "NaN"/"Infinity"/"-Infinity".
 */
export * from './types';
export {
  isNotFound,
  isRetryable,
  MlflowAlreadyExistsError,
  MlflowError,
  type MlflowErrorKind,
  MlflowInvalidInputError,
  MlflowNotFoundError,
  MlflowUnavailableError,
} from './errors';
export { LOG_BATCH_LIMITS, quoteFilterValue, tagFilterKey } from './wire';
export { MlflowClient } from './client';
export { defaultMlflowCredentials, useMlflowCredentials } from './credentials';
