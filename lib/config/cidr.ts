/** True when `value` is an IPv4 CIDR block such as `10.0.0.0/16` (host bits may be set, as AWS accepts). */
export function isValidCidr(value: string): boolean {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(value);
  if (!match) return false;
  const octets = match.slice(1, 5).map(Number);
  const prefix = Number(match[5]);
  const noLeadingZeros = match.slice(1, 5).every((o) => o === '0' || !o.startsWith('0'));
  return noLeadingZeros && octets.every((o) => o <= 255) && prefix <= 32;
}
