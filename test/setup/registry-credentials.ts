/**
 * Setup of every integration test file: the tests act as the registry toward the dev stack's
 * MLflow (they create registered models and versions and move aliases, as the workers do), so
 * MLflow's own variables name the registry's account (mlo-registry, its password from
 * MLO_MLFLOW_REGISTRY_PASSWORD or the dev stack's secrets file) unless they are set already.
 * Child processes the tests start (the CLI, workers) inherit them.
 */
import { loadStackConfig } from '../../lib/infra/config';
import { registryMlflowCredentials } from '../../lib/stack/secrets';

if (!process.env.MLFLOW_TRACKING_USERNAME) {
  const registry = registryMlflowCredentials(loadStackConfig());
  if (registry) {
    process.env.MLFLOW_TRACKING_USERNAME = registry.username;
    process.env.MLFLOW_TRACKING_PASSWORD = registry.password;
  }
}
