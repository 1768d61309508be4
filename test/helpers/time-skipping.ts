/**
 * Temporal's time-skipping test server (the Java one) for tests of deadlines: when nothing
 * else is pending, timers fire at once, so no test waits for a deadline in real time.
 *
 * The SDK would download the server; this machine reaches package registries only, so it
 * comes from Maven Central instead: `io.temporal:temporal-test-server` and its runtime
 * dependencies, copied by Maven once into `<tools cache>/temporal-test-server-<version>/lib`,
 * and a launcher script beside them that the SDK starts as `<launcher> <port>`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { temporal } from '@temporalio/proto';
import { loadStackConfig } from '../../lib/infra/config';
import { runLogged } from '../../lib/stack/tools';
import { SEARCH_ATTRIBUTE_KEYS } from '../../lib/core/search-attributes';

export const TEST_SERVER_VERSION = '1.31.0';
// The SLF4J API version the test server is built against.
const SLF4J_VERSION = '1.7.36';
const MAIN_CLASS = 'io.temporal.testserver.TestServer';
const JVM_FLAGS = '-XX:+UseSerialGC -XX:TieredStopAtLevel=1';
// Pinned so that the resolution does not depend on the Maven version on the machine.
const COPY_DEPENDENCIES = 'org.apache.maven.plugins:maven-dependency-plugin:2.8:copy-dependencies';

/** Where the server's jars and launcher live, beside the dev stack's other tools. */
export function testServerDir(toolsCache = loadStackConfig().toolsCache): string {
  return path.join(toolsCache, `temporal-test-server-${TEST_SERVER_VERSION}`);
}

/**
 * A project that depends on the test server (and on slf4j-nop, which binds the server's logging
 * to nothing instead of SLF4J warning about it on each start): Maven resolves its classpath.
 */
export function testServerPom(version = TEST_SERVER_VERSION): string {
  const dependency = (group: string, artifact: string, v: string) =>
    `    <dependency><groupId>${group}</groupId><artifactId>${artifact}</artifactId>` +
    `<version>${v}</version></dependency>`;
  return [
    '<project xmlns="http://maven.apache.org/POM/4.0.0">',
    '  <modelVersion>4.0.0</modelVersion>',
    '  <groupId>mlo.tools</groupId>',
    '  <artifactId>temporal-test-server-classpath</artifactId>',
    `  <version>${version}</version>`,
    '  <packaging>pom</packaging>',
    '  <dependencies>',
    dependency('io.temporal', 'temporal-test-server', version),
    dependency('org.slf4j', 'slf4j-nop', SLF4J_VERSION),
    '  </dependencies>',
    '</project>',
    '',
  ].join('\n');
}

/**
 * The executable the SDK runs with the port as its first argument. `exec` makes the JVM the
 * SDK's child, so the SDK's shutdown signal reaches it. The JIT stops at C1: the server lives
 * for one test file, and starts and warms up in about half the time that way.
 */
export function launcherScript(libDir: string): string {
  const java = '"${JAVA_HOME:+$JAVA_HOME/bin/}java"';
  return ['#!/bin/sh', `exec ${java} ${JVM_FLAGS} -cp '${libDir}/*' ${MAIN_CLASS} "$@"`, ''].join('\n');
}

/**
 * The launcher's path, installing the server first if it is not in the cache yet (a Maven
 * resolution, once per machine).
 */
export async function ensureTestServer(log: (line: string) => void = () => undefined): Promise<string> {
  const dir = testServerDir();
  const launcher = path.join(dir, 'bin', 'temporal-test-server');
  if (!fs.existsSync(launcher)) await install(dir, log);
  // Only the launcher changes with mlo's code (its JVM flags), never the jars of a version.
  const want = launcherScript(path.join(dir, 'lib'));
  if (fs.readFileSync(launcher, 'utf8') !== want) writeLauncher(launcher, want);
  return launcher;
}

/**
 * Maven copies the server's jars into a directory beside `dir`, renamed into place when
 * complete, so an interrupted or concurrent install never leaves a half-filled one behind.
 */
async function install(dir: string, log: (line: string) => void): Promise<void> {
  log(`installing Temporal's test server ${TEST_SERVER_VERSION} from Maven Central into ${dir} (first time only)`);
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    fs.mkdirSync(tmp, { recursive: true });
    fs.writeFileSync(path.join(tmp, 'pom.xml'), testServerPom());
    const args = ['-B', '-q', '-f', path.join(tmp, 'pom.xml'), COPY_DEPENDENCIES, `-DoutputDirectory=${tmp}/lib`];
    await runLogged('mvn', args, {
      log,
      what: `resolving io.temporal:temporal-test-server:${TEST_SERVER_VERSION} with Maven`,
    });
    writeLauncher(path.join(tmp, 'bin', 'temporal-test-server'), launcherScript(path.join(dir, 'lib')));
    fs.renameSync(tmp, dir);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (!fs.existsSync(dir)) throw err; // unless another process finished first: use its install
  }
}

/** Written aside and renamed, so a server starting meanwhile runs the old launcher or the new one. */
function writeLauncher(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text, { mode: 0o755 });
  fs.renameSync(tmp, file);
}

/**
 * A time-skipping environment on the Maven-installed server, with mlo's search attributes
 * registered (the server knows none of them by default and refuses to upsert unknown ones).
 */
export async function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: await ensureTestServer() } },
  });
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace,
    searchAttributes: Object.fromEntries(
      SEARCH_ATTRIBUTE_KEYS.map((k) => [
        k.name,
        temporal.api.enums.v1.IndexedValueType[`INDEXED_VALUE_TYPE_${k.type}`],
      ]),
    ),
  });
  return env;
}
