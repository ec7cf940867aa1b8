import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from "node:dns";
import { promises as dns } from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";
import { ErrorCode, FleetwayError } from "../engine/errors.js";

/**
 * Where webhooks may not go: loopback, private, carrier-grade NAT, link-local (which includes the
 * cloud metadata address 169.254.169.254), unique-local IPv6, unspecified and multicast addresses,
 * plus Alibaba's metadata address, and IPv6 addresses carrying any of these IPv4 addresses
 * ({@link embeddedIPv4}). A receiver there could expose internal services (SSRF).
 */
function forbiddenRanges(): BlockList {
  const list = new BlockList();
  for (const [net, prefix] of [
    ["0.0.0.0", 8],
    ["10.0.0.0", 8],
    ["100.64.0.0", 10],
    ["127.0.0.0", 8],
    ["169.254.0.0", 16],
    ["172.16.0.0", 12],
    ["192.0.0.0", 24],
    ["192.168.0.0", 16],
    ["198.18.0.0", 15],
    ["224.0.0.0", 4],
    ["240.0.0.0", 4],
  ] as const) {
    list.addSubnet(net, prefix, "ipv4");
  }
  list.addAddress("100.100.100.200", "ipv4");
  for (const [net, prefix] of [
    ["::", 128],
    ["::1", 128],
    ["fc00::", 7],
    ["fe80::", 10],
    // Site-local: deprecated, but still routed inside networks that use it.
    ["fec0::", 10],
    // NAT64 for a network's own use (RFC 8215): its translator may reach anything inside.
    ["64:ff9b:1::", 48],
    ["ff00::", 8],
  ] as const) {
    list.addSubnet(net, prefix, "ipv6");
  }
  return list;
}

const FORBIDDEN = forbiddenRanges();

/** Hosts and CIDRs configuration allows in spite of the rules above (tests allow 127.0.0.1). */
export interface AddressPolicy {
  readonly hosts: ReadonlySet<string>;
  readonly addresses: BlockList;
}

/**
 * `127.0.0.1, 10.1.0.0/16, hooks.internal` → a policy. Strict, because a sloppy entry widens the
 * guard: `10.1.0.0/` read as `/0` would allow every IPv4 address, the metadata address included.
 * @throws RangeError naming an entry that is not a host name, an address or a CIDR
 */
export function parseAllowList(entries: readonly string[]): AddressPolicy {
  const hosts = new Set<string>();
  const addresses = new BlockList();
  for (const raw of entries.map((e) => e.trim()).filter((e) => e !== "")) {
    const slash = raw.indexOf("/");
    const net = slash < 0 ? raw : raw.slice(0, slash);
    const family = isIP(net);
    const type = family === 4 ? "ipv4" : "ipv6";
    if (slash >= 0) {
      const prefix = raw.slice(slash + 1);
      const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
      if (family === 0 || !(bits <= (family === 4 ? 32 : 128))) throw notAnEntry(raw);
      addresses.addSubnet(net, bits, type);
    } else if (family !== 0) {
      addresses.addAddress(net, type);
    } else if (HOST_NAME.test(raw)) {
      hosts.add(raw.toLowerCase());
    } else {
      throw notAnEntry(raw);
    }
  }
  return { hosts, addresses };
}

/** Dot-separated labels; `_` too, which container names (Docker Compose services) often have. */
const HOST_NAME =
  /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/;

function notAnEntry(raw: string): RangeError {
  return new RangeError(`'${raw}' is not a host name, an address or a CIDR (address/prefix)`);
}

/**
 * Whether webhooks may not go to `address`. An IPv6 address that carries an IPv4 address is judged
 * by that IPv4 address as well: the guard must not be walked around by spelling 127.0.0.1 as
 * IPv6. Node's BlockList matches IPv4-mapped addresses (::ffff:a.b.c.d) against IPv4 rules by
 * itself, but knows none of the other embeddings, so {@link embeddedIPv4} finds them. An address
 * (IPv6 or the IPv4 inside it) that configuration allows is allowed.
 */
export function isForbiddenAddress(address: string, policy: AddressPolicy): boolean {
  const ip = address.replace(/%.*$/, ""); // a zone index (fe80::1%eth0) names no other address
  const family = isIP(ip);
  if (family === 4) return refusedIPv4(ip, policy);
  // Not an address: nothing can be said for it.
  if (family !== 6) return true;
  if (policy.addresses.check(ip, "ipv6")) return false;
  const embedded = embeddedIPv4(ip);
  // Mapped, compatible and translated addresses are that IPv4 address to the host's own stack.
  if (embedded?.kind === "same") return refusedIPv4(embedded.addresses[0], policy);
  if (FORBIDDEN.check(ip, "ipv6")) return true;
  return embedded?.addresses.some((v4) => refusedIPv4(v4, policy)) ?? false;
}

function refusedIPv4(address: string, policy: AddressPolicy): boolean {
  return !policy.addresses.check(address, "ipv4") && FORBIDDEN.check(address, "ipv4");
}

/**
 * The IPv4 address(es) an IPv6 address carries: `same` when it is that IPv4 address to this host
 * (IPv4-mapped ::ffff:0:0/96, IPv4-translated ::ffff:0:0:0/96, IPv4-compatible ::/96), `via` when
 * a translator or tunnel delivers to it (NAT64 64:ff9b::/96, 6to4 2002::/16, Teredo 2001::/32,
 * whose client address is stored inverted). Null for any other address.
 */
function embeddedIPv4(
  address: string,
): { kind: "same" | "via"; addresses: [string, ...string[]] } | null {
  const h = hextets(address);
  if (h === null) return null;
  const v4 = (high: number, low: number): string =>
    [high >> 8, high & 0xff, low >> 8, low & 0xff].join(".");
  const zeros = (from: number, to: number): boolean => h.slice(from, to).every((x) => x === 0);
  const [h0, h1, h2, h3, h4, h5, h6, h7] = h as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (zeros(0, 5) && h5 === 0xffff) return { kind: "same", addresses: [v4(h6, h7)] };
  if (zeros(0, 4) && h4 === 0xffff && h5 === 0) return { kind: "same", addresses: [v4(h6, h7)] };
  // :: and ::1 are themselves (the unspecified and loopback addresses), not 0.0.0.0 and 0.0.0.1.
  if (zeros(0, 6) && !(h6 === 0 && h7 <= 1)) return { kind: "same", addresses: [v4(h6, h7)] };
  if (h0 === 0x64 && h1 === 0xff9b && zeros(2, 6)) return { kind: "via", addresses: [v4(h6, h7)] };
  if (h0 === 0x2002) return { kind: "via", addresses: [v4(h1, h2)] };
  if (h0 === 0x2001 && h1 === 0) {
    return { kind: "via", addresses: [v4(h2, h3), v4(h6 ^ 0xffff, h7 ^ 0xffff)] };
  }
  return null;
}

/** The eight 16-bit groups of an IPv6 address in any spelling (`::`, a dotted IPv4 tail); null if it is none. */
function hextets(address: string): number[] | null {
  if (isIP(address) !== 6) return null;
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const parse = (part: string): number[] =>
    part === "" ? [] : part.split(":").map((x) => parseInt(x, 16));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const groups = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  return groups.length === 8 ? groups : null;
}

function forbidden(host: string, address: string): FleetwayError {
  return new FleetwayError(
    ErrorCode.WEBHOOK_URL_FORBIDDEN,
    `Webhook host '${host}' resolves to ${address}, a loopback, private, link-local or metadata address; ` +
      `allow it with FLEETWAY_WEBHOOK_ALLOW if it is intended`,
    { host, address },
  );
}

/**
 * Registration-time check: the URL is http(s) and its host resolves only to allowed addresses.
 * (Checked again at connect time by {@link guardedLookup}: DNS may answer differently later.)
 */
export async function assertWebhookUrlAllowed(url: string, policy: AddressPolicy): Promise<void> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new FleetwayError(ErrorCode.VALIDATION_ERROR, "The webhook URL is not a valid URL");
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new FleetwayError(ErrorCode.VALIDATION_ERROR, "Webhook URLs must be http or https");
  }
  // An address literal is judged as at connect time; a host name by every address it resolves to.
  const refused = forbiddenLiteral(parsed, policy);
  if (refused !== null) throw refused;
  const host = hostOf(parsed);
  if (isIP(host) !== 0 || policy.hosts.has(host)) return;
  for (const address of await resolveAll(host)) {
    if (isForbiddenAddress(address, policy)) throw forbidden(host, address);
  }
}

async function resolveAll(host: string): Promise<string[]> {
  try {
    return (await dns.lookup(host, { all: true, verbatim: true })).map((a) => a.address);
  } catch (error) {
    throw new FleetwayError(
      ErrorCode.VALIDATION_ERROR,
      `Webhook host '${host}' does not resolve`,
      {},
      { cause: error },
    );
  }
}

/**
 * The check of a URL whose host is an address literal, at registration and again at connect
 * time: http.request connects to one without calling `lookup`, so {@link guardedLookup} never
 * sees it. A URL stored before the rules (or the allow-list) changed is judged by today's.
 *
 * @returns the refusal, or null for a host name or an allowed address
 */
export function forbiddenLiteral(url: URL, policy: AddressPolicy): FleetwayError | null {
  const host = hostOf(url);
  if (isIP(host) === 0 || policy.hosts.has(host) || !isForbiddenAddress(host, policy)) return null;
  return forbidden(host, host);
}

/** The host the guard judges: lower case, an IPv6 literal without its brackets. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
}

/** Resolves a host name to all its addresses (node's dns.lookup; tests answer as a DNS server could). */
export type Resolver = (
  hostname: string,
  options: LookupOptions,
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

const systemResolver: Resolver = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, callback);
};

/**
 * A `lookup` for http.request that refuses forbidden addresses at connect time, so a host that
 * resolved to a public address at registration cannot be re-pointed at an internal one (DNS
 * rebinding). The connection uses exactly the address that was checked.
 */
export function guardedLookup(
  policy: AddressPolicy,
  resolve: Resolver = systemResolver,
): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, options, (error, list) => {
      if (error !== null) {
        callback(error, "", 0);
        return;
      }
      const allowedHost = policy.hosts.has(hostname.toLowerCase());
      const bad = allowedHost ? undefined : list.find((a) => isForbiddenAddress(a.address, policy));
      if (bad !== undefined) {
        callback(forbidden(hostname, bad.address), "", 0);
        return;
      }
      if (options.all === true) {
        (callback as unknown as (err: null, addresses: LookupAddress[]) => void)(null, list);
        return;
      }
      const first = list[0];
      if (first === undefined) {
        callback(new Error(`no address for ${hostname}`), "", 0);
        return;
      }
      callback(null, first.address, first.family);
    });
  };
}
