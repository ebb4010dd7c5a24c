import * as z from 'zod/mini';
import { INSTANCE_ID_PATTERN } from './event-types';

/**
 * zod/mini building blocks shared by the handlers' event schemas, and the one way they describe a
 * failed parse. A handler that only needs event names imports lambdas/shared/event-types.ts, so
 * that none of these is built in its bundle.
 */

export const nonEmpty = z.string().check(z.minLength(1));

export const instanceId = z.string().check(z.regex(INSTANCE_ID_PATTERN, 'not an EC2 instance ID (i-…)'));

/**
 * EventBridge `time`: ISO-8601 with a zone, e.g. 2026-11-23T12:30:34Z. A pattern plus a date
 * check rather than `z.iso.datetime`, which would add its regex builders to every bundle.
 */
export const eventTime = z.string().check(
  z.regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/, 'not an ISO-8601 date-time'),
  z.refine((value) => !Number.isNaN(Date.parse(value)), 'not a valid date-time'),
);

/** A short, single-line description of why a value failed a schema (for logs and DLQ attributes). */
export function describeIssues(error: z.core.$ZodError, maxIssues = 3): string {
  return error.issues
    .slice(0, maxIssues)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
}
