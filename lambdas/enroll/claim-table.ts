/**
 * The launch-claim table's attributes, shared by the construct that creates the table and the
 * handler that writes it (no SDK here, so the CDK app can import it).
 */
export const CLAIM_ATTRIBUTES = {
  /** Partition key: `<instance ID>#<launch time>`. */
  key: 'launch',
  /** Expiry, epoch seconds: the table's TTL attribute. */
  expiresAt: 'expiresAt',
} as const;
