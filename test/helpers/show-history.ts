/**
 * Prints a workflow's history as proto3 JSON (what `historyFromJSON` reads):
 *   node --import tsx test/helpers/show-history.ts <address> <namespace> <workflow id>
 * For the ephemeral test servers (authentication off). Used by recordHistory (fixtures.ts).
 */
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';

async function main(address: string, namespace: string, workflowId: string): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    const history = await new Client({ connection, namespace }).workflow.getHandle(workflowId).fetchHistory();
    process.stdout.write(`${historyToJSON(history)}\n`);
  } finally {
    await connection.close();
  }
}

const [address, namespace, workflowId] = process.argv.slice(2);
if (!address || !namespace || !workflowId) {
  console.error('usage: show-history.ts <address> <namespace> <workflow id>');
  process.exit(2);
}
main(address, namespace, workflowId).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
