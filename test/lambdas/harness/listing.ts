/**
 * What the fakes of AWS's listing calls share: filters, page sizes and NextToken paging as the
 * services apply them.
 */
import { awsError } from '../fixtures';

/** The values of a Describe call's filter of that name (EC2's `Name`, SSM's `Key`); undefined when it has none. */
export function filterValues(
  filters: readonly { readonly Name?: string; readonly Key?: string; readonly Values?: string[] }[] | undefined,
  name: string,
): string[] | undefined {
  return filters?.find((filter) => (filter.Name ?? filter.Key) === name)?.Values;
}

/** The page sizes a listing API accepts (MaxResults), the one it uses without, and the error it raises for others. */
export interface PageSizes {
  readonly min: number;
  readonly max: number;
  readonly fallback: number;
  readonly error: string;
}

/** The page size a listing call asks for, refused as the API refuses it outside its bounds. */
export function pageSize(maxResults: number | undefined, sizes: PageSizes): number {
  const size = maxResults ?? sizes.fallback;
  if (size < sizes.min || size > sizes.max) throw awsError(sizes.error, `MaxResults must be ${sizes.min}-${sizes.max}`);
  return size;
}

/**
 * One page of `items` from the offset a `<tokenPrefix><offset>` token names, and the token of the
 * next page when there are more.
 */
export function page<T>(
  items: readonly T[],
  token: string | undefined,
  size: number,
  tokenPrefix = 'page-',
): { items: T[]; nextToken: string | undefined } {
  const offset = token === undefined ? 0 : Number(token.slice(tokenPrefix.length));
  if (!Number.isInteger(offset)) throw awsError('InvalidNextToken', `bad token ${token}`);
  const end = offset + size;
  return { items: items.slice(offset, end), nextToken: end < items.length ? `${tokenPrefix}${end}` : undefined };
}

/**
 * `answer`, copying each input into `sent` first: the SDK's paginators send every page with one
 * input object and only change its NextToken, so commandCalls() would show the last token on every call.
 */
export function copyingInputs<Input extends object, Output>(sent: Input[], answer: (input: Input) => Output): (input: Input) => Output {
  return (input) => {
    sent.push({ ...input });
    return answer(input);
  };
}
