/**
 * Small text helpers for the host side of the VM.
 * @module
 */

/** Replaces lone UTF-16 surrogates with U+FFFD, so the text has exactly one UTF-8 encoding. */
export function to_well_formed(text: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        continue;
      }
    }
    out += `${text.slice(from, i)}\ufffd`;
    from = i + 1;
  }
  return from === 0 ? text : out + text.slice(from);
}

/** `text` cut to at most `max_chars` UTF-16 units, never between the halves of a surrogate pair. */
export function truncate_chars(text: string, max_chars: number): string {
  if (text.length <= max_chars) return text;
  let end = max_chars;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return text.slice(0, end);
}
