/**
 * The one fast path for plain IPv4 text, shared by the datapath's address encoding and the
 * transport's prefix helpers (100k ipcache entries, 10k peers' allowed IPs and the route table go
 * through it on a reconcile). Pure; imports nothing of latch.
 */

/**
 * A four-part decimal IPv4 address in s[start, end) (what ipaddr.js's isValidFourPartDecimal
 * accepts: 0-255, no leading zeros) as a 32-bit number, or -1 for anything else (IPv6, malformed:
 * the caller's general path decides, and names the error). ~20× cheaper than ipaddr.js.
 */
export function plainIpv4(s: string, start = 0, end = s.length): number {
  let value = 0
  let part = 0
  let digits = 0
  let parts = 0
  for (let i = start; i <= end; i++) {
    const c = i === end ? 46 : s.charCodeAt(i)
    if (c === 46) {
      if (digits === 0 || parts === 4) return -1
      value = value * 256 + part
      parts++
      part = 0
      digits = 0
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return -1 // leading zero
      part = part * 10 + (c - 48)
      if (part > 255) return -1
      digits++
    } else return -1
  }
  return parts === 4 ? value : -1
}
