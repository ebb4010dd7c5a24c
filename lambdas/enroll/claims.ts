import { type DynamoDBClient, TransactionCanceledException, TransactWriteItemsCommand } from '@aws-sdk/client-dynamodb';
import { chunk } from '../shared/aws';
import { CLAIM_ATTRIBUTES } from './claim-table';

/**
 * Claims on instance launches, so that one launch gets one install command even when its events
 * (the EC2 `running` event, the Auto Scaling lifecycle event, a reconciliation request, a
 * redelivery) are processed by two invocations at once: an invocation sends the command only for
 * the launches it claimed. A claim is one item per (instance, launch time) in a DynamoDB table,
 * written with a condition so that only one writer wins; it expires after the command timeout,
 * when a launch whose command was lost may be claimed again (and DynamoDB's TTL removes it later).
 *
 * Claims go in transactions of up to 100 items, one call for 100 instances: a transaction is all
 * or nothing, so when some items are claimed already (the cancellation reasons say which), the
 * others are written again in a transaction of their own.
 */

/** TransactWriteItems takes at most 100 items. */
export const CLAIMS_PER_TRANSACTION = 100;

export interface LaunchClaim {
  readonly instanceId: string;
  /** The instance's launch time (ISO 8601): a stopped and started instance is a new launch. */
  readonly launchTime: string;
}

export interface ClaimResult {
  /** Launches this invocation claimed: send their commands. */
  readonly claimed: ReadonlySet<string>;
  /** Launches another invocation claimed, within the command timeout. */
  readonly taken: ReadonlySet<string>;
  /** Launches whose claim could not be written, with the error (retried with the record). */
  readonly failed: ReadonlyArray<{ readonly instanceIds: readonly string[]; readonly error: unknown }>;
}

export function claimKey(claim: LaunchClaim): string {
  return `${claim.instanceId}#${claim.launchTime}`;
}

export async function claimLaunches(
  dynamodb: DynamoDBClient,
  tableName: string,
  claims: readonly LaunchClaim[],
  now: Date,
  ttlSeconds: number,
): Promise<ClaimResult> {
  const claimed = new Set<string>();
  const taken = new Set<string>();
  const failed: Array<{ instanceIds: string[]; error: unknown }> = [];
  const nowSeconds = Math.floor(now.getTime() / 1000);
  for (const group of chunk(claims, CLAIMS_PER_TRANSACTION)) {
    let pending = [...group];
    // Each round either writes every pending claim or removes at least one taken claim.
    while (pending.length > 0) {
      try {
        await dynamodb.send(
          new TransactWriteItemsCommand({
            TransactItems: pending.map((claim) => ({
              Put: {
                TableName: tableName,
                Item: {
                  [CLAIM_ATTRIBUTES.key]: { S: claimKey(claim) },
                  [CLAIM_ATTRIBUTES.expiresAt]: { N: String(nowSeconds + ttlSeconds) },
                },
                ConditionExpression: 'attribute_not_exists(#key) OR #expiresAt < :now',
                ExpressionAttributeNames: { '#key': CLAIM_ATTRIBUTES.key, '#expiresAt': CLAIM_ATTRIBUTES.expiresAt },
                ExpressionAttributeValues: { ':now': { N: String(nowSeconds) } },
              },
            })),
          }),
        );
        for (const claim of pending) claimed.add(claim.instanceId);
        pending = [];
      } catch (error) {
        const reasons = error instanceof TransactionCanceledException ? error.CancellationReasons : undefined;
        const lost = pending.filter((_, index) => reasons?.[index]?.Code === 'ConditionalCheckFailed');
        if (lost.length === 0) {
          failed.push({ instanceIds: pending.map((claim) => claim.instanceId), error });
          pending = [];
        } else {
          for (const claim of lost) taken.add(claim.instanceId);
          pending = pending.filter((claim) => !lost.includes(claim));
        }
      }
    }
  }
  return { claimed, taken, failed };
}
