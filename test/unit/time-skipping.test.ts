import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launcherScript, TEST_SERVER_VERSION, testServerDir, testServerPom } from '../helpers/time-skipping';

describe("the time-skipping test server's install", () => {
  it('lives in the tools cache under its version', () => {
    expect(testServerDir('/cache/mlo/tools')).toBe(`/cache/mlo/tools/temporal-test-server-${TEST_SERVER_VERSION}`);
  });

  it('asks Maven for the server at the pinned version and a quiet SLF4J binding', () => {
    const pom = testServerPom('1.2.3');
    expect(pom).toContain(
      '<dependency><groupId>io.temporal</groupId><artifactId>temporal-test-server</artifactId>' +
        '<version>1.2.3</version></dependency>',
    );
    expect(pom).toMatch(/<artifactId>slf4j-nop<\/artifactId><version>1\.7\.36<\/version>/);
    expect(pom).toContain('<packaging>pom</packaging>');
  });
});

describe('the launcher the SDK runs as `<launcher> <port>`', () => {
  let dir: string;
  let launcher: string;

  /** A stand-in `java` that prints who it is and its arguments, one a line. */
  function fakeJava(binDir: string, name: string): void {
    fs.mkdirSync(binDir, { recursive: true });
    fs.writeFileSync(path.join(binDir, 'java'), `#!/bin/sh\necho ${name}\nprintf "%s\\n" "$@"\n`, { mode: 0o755 });
  }

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-launcher-'));
    fakeJava(path.join(dir, 'bin'), 'java-on-path');
    fakeJava(path.join(dir, 'jdk', 'bin'), 'java-home');
    launcher = path.join(dir, 'launcher');
    fs.writeFileSync(launcher, launcherScript('/opt/tts/lib'), { mode: 0o755 });
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const run = (env: NodeJS.ProcessEnv) =>
    execFileSync(launcher, ['41234'], { encoding: 'utf8', env }).trim().split('\n');

  it('starts the server main class with every jar, passing the port through', () => {
    expect(run({ PATH: path.join(dir, 'bin') })).toEqual([
      'java-on-path',
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      '-cp',
      '/opt/tts/lib/*',
      'io.temporal.testserver.TestServer',
      '41234',
    ]);
  });

  it("uses JAVA_HOME's java when JAVA_HOME is set", () => {
    expect(run({ PATH: path.join(dir, 'bin'), JAVA_HOME: path.join(dir, 'jdk') })[0]).toBe('java-home');
  });
});
