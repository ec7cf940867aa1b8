import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { promises as dns } from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";
import { ErrorCode, FleetwayError } from "../engine/errors.js";

/**
 * Where webhooks may not go: loopback, private, carrier-grade NAT, link-local (which includes the
 * cloud metadata address 169.254.169.254), unique-local IPv6, unspecified and multicast addresses,
 * plus Alibaba's metadata address. A receiver there could expose internal services (SSRF).
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

/** IPv4-mapped IPv6 (::ffff:10.0.0.1) is judged as the IPv4 address it is. */
function normalize(address: string): { address: string; type: "ipv4" | "ipv6" } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1] !== undefined) return { address: mapped[1], type: "ipv4" };
  return { address, type: isIP(address) === 6 ? "ipv6" : "ipv4" };
}

export function isForbiddenAddress(address: string, policy: AddressPolicy): boolean {
  const { address: ip, type } = normalize(address);
  if (policy.addresses.check(ip, type)) return false;
  return FORBIDDEN.check(ip, type);
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
  const host = parsed.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (policy.hosts.has(host)) return;
  const addresses = isIP(host) !== 0 ? [host] : await resolveAll(host);
  for (const address of addresses) {
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
 * A `lookup` for http.request that refuses forbidden addresses at connect time, so a host that
 * resolved to a public address at registration cannot be re-pointed at an internal one (DNS
 * rebinding). The connection uses exactly the address that was checked.
 */
export function guardedLookup(policy: AddressPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[] | string) => {
      if (error !== null) {
        callback(error, "", 0);
        return;
      }
      const list =
        typeof addresses === "string"
          ? [{ address: addresses, family: isIP(addresses) }]
          : addresses;
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
