/** True when `value` is an IPv4 CIDR block such as `10.0.0.0/16` (host bits may be set; see {@link canonicalCidr}). */
export function isValidCidr(value: string): boolean {
  return parseCidr(value) !== undefined;
}

function parseCidr(value: string): { octets: number[]; prefix: number } | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(value);
  if (!match) return undefined;
  const octets = match.slice(1, 5).map(Number);
  const prefix = Number(match[5]);
  const noLeadingZeros = match.slice(1, 5).every((o) => o === '0' || !o.startsWith('0'));
  return noLeadingZeros && octets.every((o) => o <= 255) && prefix <= 32 ? { octets, prefix } : undefined;
}

/**
 * The block with its host bits cleared (`10.0.0.1/16` → `10.0.0.0/16`), or undefined for an
 * invalid CIDR. EC2 and CDK quietly use the canonical block while security-group rules keep the
 * typed value, so the configuration must name the canonical one.
 */
export function canonicalCidr(value: string): string | undefined {
  const parsed = parseCidr(value);
  if (!parsed) return undefined;
  const address = parsed.octets.reduce((sum, octet) => sum * 256 + octet, 0);
  const size = 2 ** (32 - parsed.prefix);
  const network = Math.floor(address / size) * size;
  const octets = [24, 16, 8, 0].map((shift) => Math.floor(network / 2 ** shift) % 256);
  return `${octets.join('.')}/${parsed.prefix}`;
}
