/**
 * Setup of every test file (unit and integration): the AWS credential chain never probes the
 * instance-metadata address (no test machine is an EC2 instance, and the probe would wait on a
 * timeout). Child processes the tests start inherit it.
 *
 * The Temporal settings are left as the run has them: tests that start another stack instance
 * (other MLO_STACK_DIR and ports) rely on the dev stack's defaults following those ports, which a
 * TEMPORAL_CONFIG_FILE set here for every test would override.
 */
process.env.AWS_EC2_METADATA_DISABLED = 'true';
