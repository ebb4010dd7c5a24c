import { batchWithin, isThrottlingError } from '../../../lambdas/shared/aws';
import { awsError } from '../fixtures';

describe('isThrottlingError', () => {
  test.each([
    ['ThrottlingException', awsError('ThrottlingException', 'Rate exceeded')],
    ['RequestLimitExceeded (EC2)', awsError('RequestLimitExceeded', 'Request limit exceeded.')],
    ['EC2ThrottledException', awsError('EC2ThrottledException', 'Rate exceeded')],
    ['TooManyUpdates (Parameter Store)', awsError('TooManyUpdates', 'There are concurrent updates for the resource.')],
    ['any error answered with HTTP 429', Object.assign(awsError('SomeServiceError', 'slow down'), { $metadata: { httpStatusCode: 429 } })],
    ['a modelled error with the throttling trait', Object.assign(awsError('SomeServiceError'), { $retryable: { throttling: true } })],
  ])('%s is throttling', (_case, error) => {
    expect(isThrottlingError(error)).toBe(true);
  });

  test.each([
    ['AccessDeniedException', awsError('AccessDeniedException', 'not authorized')],
    [
      'AccessDenied answered with HTTP 403',
      Object.assign(awsError('AccessDenied', 'not authorized'), { $metadata: { httpStatusCode: 403 } }),
    ],
    ['an internal error answered with HTTP 500', Object.assign(awsError('InternalFailure'), { $metadata: { httpStatusCode: 500 } })],
    ['a retryable error without the throttling trait', Object.assign(awsError('SomeServiceError'), { $retryable: {} })],
    ['InvalidInstanceID.NotFound', awsError('InvalidInstanceID.NotFound', "The instance ID 'i-1' does not exist")],
    ['a string', 'ThrottlingException'],
    ['undefined', undefined],
    ['null', null],
  ])('%s is not throttling', (_case, error) => {
    expect(isThrottlingError(error)).toBe(false);
  });
});

describe('batchWithin', () => {
  const size = (item: number) => item;

  test('closes a batch at the item limit', () => {
    expect(batchWithin([1, 1, 1, 1, 1], 2, 100, size)).toEqual([[1, 1], [1, 1], [1]]);
  });

  test('closes a batch before the item that would pass the byte limit; a batch may reach it exactly', () => {
    expect(batchWithin([4, 6, 1, 9, 2], 10, 10, size)).toEqual([[4, 6], [1, 9], [2]]);
  });

  test('an item over the byte limit goes alone', () => {
    expect(batchWithin([1, 50, 1], 10, 10, size)).toEqual([[1], [50], [1]]);
  });

  test('no items, no batches', () => {
    expect(batchWithin([], 10, 10, size)).toEqual([]);
  });
});
