import { describe, expect, it } from 'vitest';
import { isPassedThrough, trainerEnv } from '../../lib/trainer/env';

const contract = {
  s3: { endpoint: 'http://127.0.0.1:7070', bucket: 'mlo', accessKeyId: 'k', secretAccessKey: 's', region: 'us-east-1' },
  mlflowTrackingUri: 'http://127.0.0.1:5050',
  mlflowRunId: 'r1',
  cudaVisibleDevices: '',
};

describe("a trainer's environment", () => {
  it("is the allowlisted part of the worker's and the contract's variables", () => {
    const env = trainerEnv(
      {
        PATH: '/usr/bin',
        HOME: '/home/w',
        LANG: 'C.UTF-8',
        LC_ALL: 'C.UTF-8',
        TZ: 'UTC',
        PYTHONPATH: '/opt/lib',
        OMP_NUM_THREADS: '4',
        CUDA_VISIBLE_DEVICES: '0,1',
        AWS_ACCESS_KEY_ID: 'the-workers-own',
        MLFLOW_TRACKING_PASSWORD: 'pw',
        MLFLOW_TRACKING_USERNAME: 'registry',
        MLO_MLO_REGISTRY_CLIENT_SECRET: 'secret',
        MLO_TEMPORAL_API_KEY: 'key',
        TEMPORAL_TLS_CLIENT_KEY_PATH: '/k.pem',
        PYTHON_KEYRING_TOKEN: 'tok',
        NODE_OPTIONS: '--inspect',
        MLO_AUTH: '1',
      },
      contract,
    );
    expect(env).toEqual({
      PATH: '/usr/bin',
      HOME: '/home/w',
      LANG: 'C.UTF-8',
      LC_ALL: 'C.UTF-8',
      TZ: 'UTC',
      PYTHONPATH: '/opt/lib',
      OMP_NUM_THREADS: '4',
      MLO_S3_ENDPOINT: 'http://127.0.0.1:7070',
      MLO_S3_BUCKET: 'mlo',
      AWS_ACCESS_KEY_ID: 'k',
      AWS_SECRET_ACCESS_KEY: 's',
      AWS_DEFAULT_REGION: 'us-east-1',
      MLFLOW_TRACKING_URI: 'http://127.0.0.1:5050',
      MLFLOW_RUN_ID: 'r1',
      CUDA_VISIBLE_DEVICES: '',
      PYTHONUNBUFFERED: '1',
    });
  });

  it('never passes a name that holds credentials, even under an allowed prefix', () => {
    for (const name of ['PYTHON_KEYRING_PASSWORD', 'PYTHON_API_TOKEN', 'LC_SECRET', 'PYTHON_AUTH_HEADER'])
      expect(isPassedThrough(name)).toBe(false);
    for (const name of ['PATH', 'LC_CTYPE', 'PYTHONHASHSEED', 'OPENBLAS_NUM_THREADS', 'SSL_CERT_FILE'])
      expect(isPassedThrough(name)).toBe(true);
  });

  it('gets the MLflow URI without user and password', () => {
    const uri = (mlflowTrackingUri: string) => trainerEnv({}, { ...contract, mlflowTrackingUri }).MLFLOW_TRACKING_URI;
    expect(uri('http://registry:pw@127.0.0.1:5050')).toBe('http://127.0.0.1:5050');
    expect(uri('https://u:p@mlflow.example.com/mlflow/')).toBe('https://mlflow.example.com/mlflow/');
    expect(uri('http://127.0.0.1:5050')).toBe('http://127.0.0.1:5050');
  });
});
