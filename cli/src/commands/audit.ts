import type { Command } from 'commander';
import { UserError, verifyAuditChain } from '@ct/lib';
import { withDatabase } from './context';

export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('the append-only audit log');
  audit
    .command('verify')
    .description(
      'walk the hash chain and check it still holds every anchor in S3 (backup manifests, earlier verifications); ' +
        'exit 1 naming the first bad row or contradicted anchor; after a good check, anchor the head in S3',
    )
    .option('--json', 'print the result as JSON')
    .action(async (opts: { json?: boolean }) => {
      await withDatabase(async (pool) => {
        const { anchorBucketFromEnv, verifyAuditChainAnchored } = await import('@ct/backup');
        const bucket = anchorBucketFromEnv();
        // Without S3 the chain can only be checked against itself: a rewrite of every hash by
        // whoever owns the database would pass. Say so.
        const result = bucket
          ? await verifyAuditChainAnchored({ pool, bucket })
          : { ...(await verifyAuditChain(pool)), anchorsChecked: null, contradictedAnchor: null, anchoredAs: null };
        if (opts.json) process.stdout.write(`${JSON.stringify(result)}\n`);
        if (!result.ok) {
          throw new UserError(
            result.contradictedAnchor
              ? `audit chain rewritten: ${result.reason}`
              : `audit chain broken at row ${result.firstBadId}: ${result.reason} (${result.rowsChecked} rows verified before it)`,
          );
        }
        if (opts.json) return;
        const anchors =
          result.anchorsChecked === null
            ? 'no anchors checked (S3_BUCKET is not set: the chain was checked against itself only)'
            : `${result.anchorsChecked} anchor(s) held`;
        process.stdout.write(`audit chain valid: ${result.rowsChecked} rows verified, ${anchors}\n`);
        if (result.anchoredAs) process.stdout.write(`head anchored as ${result.anchoredAs}\n`);
      });
    });
}
