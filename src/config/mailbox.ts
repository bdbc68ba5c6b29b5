/** Parses a mailbox such as `Paperboy <digest@example.com>` or a bare address. */
export function parseMailbox(value: string): { name: string; address: string } | undefined {
  const withName = /^\s*"?([^"<>\r\n]*?)"?\s*<([^<>\s@]+@[^<>\s@]+)>\s*$/.exec(value);
  if (withName) return { name: withName[1]!.trim(), address: withName[2]! };
  const bare = /^\s*([^<>\s@,]+@[^<>\s@,]+)\s*$/.exec(value);
  if (bare) return { name: '', address: bare[1]! };
  return undefined;
}
