import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AgentError,
  correlate,
  formatProcNetRow,
  type ProcNetSocket,
  parseAddressMap,
  parseProcNetTcp,
  TCP_ESTABLISHED,
  TCP_LISTEN,
} from '../src/index.ts';
import { WireAccumulator } from '../src/wire/accumulator.ts';

const HEADER =
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
const HEADER6 =
  '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';

// Rows copied from a real x86-64 host: a listener on 127.0.0.1:8080, a connection
// 127.0.0.1:45678 → 127.0.0.1:8080, and in tcp6 a listener on [::1]:6379 and a dual-stack
// connection ::ffff:10.0.0.5:40000 → ::ffff:10.0.0.9:5432.
const TCP = `${HEADER}
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 5289 1 0000000000000000 100 0 0 10 0
   1: 0100007F:B26E 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 7001 1 0000000000000000 20 4 30 10 -1
`;
const TCP6 = `${HEADER6}
   0: 00000000000000000000000001000000:18EB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5290 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000500000A:9C40 0000000000000000FFFF00000900000A:1538 01 00000000:00000000 00:00000000 00000000   999        0 7002 1 0000000000000000 20 4 30 10 -1
   2: B80D0120000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7003 1 0000000000000000 100 0 0 10 0
`;

describe('/proc/net/tcp parser', () => {
  it('reads IPv4 rows: little-endian words, hex ports, states, uid and inode', () => {
    const { sockets, skipped } = parseProcNetTcp(TCP);
    expect(skipped).toEqual([]);
    expect(sockets).toEqual([
      {
        family: 4,
        localAddress: '127.0.0.1',
        localPort: 8080,
        remoteAddress: '0.0.0.0',
        remotePort: 0,
        state: TCP_LISTEN,
        uid: 1000,
        inode: 5289,
        line: 2,
      },
      {
        family: 4,
        localAddress: '127.0.0.1',
        localPort: 45678,
        remoteAddress: '127.0.0.1',
        remotePort: 8080,
        state: TCP_ESTABLISHED,
        uid: 1000,
        inode: 7001,
        line: 3,
      },
    ]);
  });

  it('reads IPv6 rows: ::1, IPv4-mapped addresses as IPv4, compressed zeros', () => {
    const { sockets, skipped } = parseProcNetTcp(TCP6);
    expect(skipped).toEqual([]);
    expect(
      sockets.map((s) => [s.family, s.localAddress, s.localPort, s.remoteAddress, s.remotePort]),
    ).toEqual([
      [6, '::1', 6379, '::', 0],
      [4, '10.0.0.5', 40000, '10.0.0.9', 5432],
      [6, '2001:db8::1', 80, '::', 0],
    ]);
  });

  it('reads big-endian tables when told so', () => {
    const row = formatProcNetRow(
      {
        family: 4,
        localAddress: '10.1.2.3',
        localPort: 1,
        remoteAddress: '192.168.0.1',
        remotePort: 443,
        state: 1,
        uid: 0,
        inode: 9,
      },
      0,
      { littleEndian: false },
    );
    expect(row).toContain('0A010203:0001 C0A80001:01BB');
    expect(parseProcNetTcp(row, { littleEndian: false }).sockets[0]).toMatchObject({
      localAddress: '10.1.2.3',
      remoteAddress: '192.168.0.1',
    });
  });

  it('skips a malformed row with its line number and why, keeping the others', () => {
    const text = `${HEADER}
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 5289
   1: 0100007G:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 5289
   2: 0100007F:1F90 00000000:0000 0A 00000000:00000000
   3: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 12x
   4: 0100007F:1F90 000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1
`;
    const { sockets, skipped } = parseProcNetTcp(text);
    expect(sockets.map((s) => s.line)).toEqual([2]);
    expect(skipped).toEqual([
      { line: 3, message: 'local address: "0100007G" is not hex' },
      { line: 4, message: 'expected at least 10 fields, found 5' },
      { line: 5, message: 'inode "12x" is not a decimal number' },
      { line: 6, message: 'remote address: address "000000" has 6 hex digits, expected 8 or 32' },
    ]);
  });

  it('keeps only the states asked for', () => {
    const { sockets } = parseProcNetTcp(TCP, { states: new Set([TCP_ESTABLISHED]) });
    expect(sockets.map((s) => s.inode)).toEqual([7001]);
  });

  it('never throws on arbitrary text, and reports at most ~100 issues', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 2000 }), (text) => {
        const r = parseProcNetTcp(text);
        expect(r.skipped.length).toBeLessThanOrEqual(101);
        for (const s of r.sockets) {
          expect(s.localPort).toBeLessThanOrEqual(65535);
          expect(s.line).toBeGreaterThanOrEqual(1);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on row-shaped garbage (valid fields mutated)', () => {
    const row = TCP.split('\n')[2]!;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: row.length - 1 }),
        fc.string({ maxLength: 8 }),
        (at, ins) => {
          const text = `${HEADER}\n${row.slice(0, at)}${ins}${row.slice(at + 1)}\n`;
          const r = parseProcNetTcp(text);
          expect(r.sockets.length + r.skipped.length).toBeLessThanOrEqual(1);
        },
      ),
      { numRuns: 500 },
    );
  });

  const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join('.'));
  // Canonical text as the parser writes it (RFC 5952), via the URL parser. IPv4-mapped ones are
  // the IPv4 sockets written into the tcp6 table below.
  const ipv6 = fc
    .ipV6()
    .map((a) => new URL(`http://[${a}]/`).hostname.slice(1, -1))
    .filter((a) => !a.startsWith('::ffff:'));
  const socket = (addr: fc.Arbitrary<string>, family: 4 | 6) =>
    fc.record({
      family: fc.constant(family),
      localAddress: addr,
      localPort: fc.nat(65535),
      remoteAddress: addr,
      remotePort: fc.nat(65535),
      state: fc.integer({ min: 1, max: 12 }),
      uid: fc.nat(0xffffffff),
      inode: fc.nat(2 ** 31),
    });

  it('round-trips generated rows (IPv4 table, IPv4 in the IPv6 table, IPv6), either byte order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(socket(ipv4, 4), socket(ipv6, 6)), { maxLength: 20 }),
        fc.boolean(),
        (sockets, littleEndian) => {
          const v4 = sockets.filter((s) => s.family === 4);
          const text4 = [
            HEADER,
            ...v4.map((s, i) => formatProcNetRow(s, i, { littleEndian })),
          ].join('\n');
          // Every socket written into the tcp6 table: IPv4 ones come back as IPv4 (mapped).
          const text6 = [
            HEADER6,
            ...sockets.map((s, i) => formatProcNetRow(s, i, { littleEndian, table: 6 })),
          ].join('\n');
          const strip = (s: ProcNetSocket) => {
            const { line: _line, ...rest } = s;
            return rest;
          };
          const r4 = parseProcNetTcp(text4, { littleEndian });
          const r6 = parseProcNetTcp(text6, { littleEndian });
          expect(r4.skipped).toEqual([]);
          expect(r6.skipped).toEqual([]);
          expect(r4.sockets.map(strip)).toEqual(v4);
          expect(r6.sockets.map(strip)).toEqual(sockets);
        },
      ),
      { numRuns: 300 },
    );
  });
});

const ESTABLISHED = TCP_ESTABLISHED;
function sock(
  inode: number,
  state: number,
  local: [string, number],
  remote: [string, number] = ['0.0.0.0', 0],
): ProcNetSocket {
  return {
    family: local[0].includes(':') ? 6 : 4,
    localAddress: local[0],
    localPort: local[1],
    remoteAddress: remote[0],
    remotePort: remote[1],
    state,
    uid: 0,
    inode,
    line: inode,
  };
}

describe('correlate: one sample to edges', () => {
  // pid 10 = checkout, 20 = payments, 30 = an unattested process; inode → pid below.
  const owners = new Map([
    [1, 20], // payments listens on 0.0.0.0:8080
    [2, 10], // checkout → 127.0.0.1:8080 (client end)
    [3, 20], // payments' end of that connection
    [4, 10], // checkout → 10.96.0.7:5432 (a Service IP of the address map)
    [5, 10], // checkout → 10.96.0.99:443 (unknown)
    [6, 30], // an unattested process → payments
    [7, 10], // checkout → 127.0.0.1:8080 again (second connection)
    [8, 20], // payments' end of it
  ]);
  const workloads = new Map([
    [10, 'spiffe://td/checkout'],
    [20, 'spiffe://td/payments'],
  ]);
  const sockets = [
    sock(1, TCP_LISTEN, ['0.0.0.0', 8080]),
    sock(2, ESTABLISHED, ['127.0.0.1', 40001], ['127.0.0.1', 8080]),
    sock(3, ESTABLISHED, ['127.0.0.1', 8080], ['127.0.0.1', 40001]),
    sock(4, ESTABLISHED, ['10.0.0.5', 40002], ['10.96.0.7', 5432]),
    sock(5, ESTABLISHED, ['10.0.0.5', 40003], ['10.96.0.99', 443]),
    sock(6, ESTABLISHED, ['127.0.0.1', 40004], ['127.0.0.1', 8080]),
    sock(7, ESTABLISHED, ['127.0.0.1', 40005], ['127.0.0.1', 8080]),
    sock(8, ESTABLISHED, ['127.0.0.1', 8080], ['127.0.0.1', 40005]),
    sock(9, ESTABLISHED, ['127.0.0.1', 40006], ['127.0.0.1', 9]), // no process holds it
  ];
  const input = {
    sockets,
    ownerOf: (i: number) => owners.get(i),
    workloadOf: (p: number) => workloads.get(p),
    addressMap: new Map([['10.96.0.7:5432', 'orders-db']]),
    localAddresses: new Set(['10.0.0.5']),
    maxEdges: 100,
  };

  it('names the caller from its ephemeral end and the callee from the listener or the map', () => {
    const r = correlate(input);
    expect(r.edges).toEqual([
      {
        source: 'spiffe://td/checkout',
        destination: 'spiffe://td/payments',
        port: 8080,
        connections: 2,
      },
      { source: 'spiffe://td/checkout', destination: 'orders-db', port: 5432, connections: 1 },
    ]);
    expect(r.unresolved).toEqual({
      inbound: 2,
      noProcess: 1,
      unattested: 1,
      unknownRemote: 1,
      self: 0,
      overCap: 0,
    });
  });

  it('caps distinct edges and counts what it drops', () => {
    const r = correlate({ ...input, maxEdges: 1 });
    expect(r.edges).toHaveLength(1);
    expect(r.unresolved.overCap).toBe(1);
  });

  it('a listener on one address does not claim connections on another', () => {
    const r = correlate({
      ...input,
      sockets: [
        sock(1, TCP_LISTEN, ['127.0.0.2', 8080]),
        // checkout's own port 8080 on another address is a client end, not a server end.
        sock(2, ESTABLISHED, ['127.0.0.1', 8080], ['10.96.0.7', 5432]),
      ],
    });
    expect(r.edges.map((e) => e.destination)).toEqual(['orders-db']);
  });

  it('never throws and keeps its bounds on generated samples', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            inode: fc.integer({ min: 0, max: 20 }),
            state: fc.constantFrom(TCP_ESTABLISHED, TCP_LISTEN, 6),
            lp: fc.integer({ min: 1, max: 5 }),
            rp: fc.integer({ min: 0, max: 5 }),
            la: fc.constantFrom('127.0.0.1', '0.0.0.0', '10.0.0.5', '::1'),
            ra: fc.constantFrom('127.0.0.1', '10.96.0.7', '::1'),
          }),
          { maxLength: 60 },
        ),
        fc.integer({ min: 1, max: 5 }),
        (rows, maxEdges) => {
          const r = correlate({
            ...input,
            maxEdges,
            sockets: rows.map((x) => sock(x.inode, x.state, [x.la, x.lp], [x.ra, x.rp])),
          });
          expect(r.edges.length).toBeLessThanOrEqual(maxEdges);
          const established = rows.filter((x) => x.state === TCP_ESTABLISHED).length;
          const counted =
            r.edges.reduce((n, e) => n + e.connections, 0) +
            Object.values(r.unresolved).reduce((n, v) => n + v, 0);
          // Every established connection is an edge or counted once, never lost or doubled.
          expect(counted).toBe(established);
          for (const e of r.edges) expect(e.source).not.toBe(e.destination);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('WireAccumulator', () => {
  const none = { inbound: 0, noProcess: 0, unattested: 0, unknownRemote: 0, self: 0, overCap: 0 };
  const e = (d: string) => ({ source: 's', destination: d, port: 80, connections: 2 });

  it('merges samples per edge with first/last seen and a sample count, and drains', () => {
    const acc = new WireAccumulator(10);
    acc.add([e('a')], { ...none, unknownRemote: 1 }, 1000);
    acc.add([e('a'), e('b')], { ...none, unknownRemote: 2 }, 5000);
    const batch = acc.drain();
    expect(batch.edges).toEqual([
      {
        source: 's',
        destination: 'a',
        port: 80,
        samples: 2,
        connections: 4,
        firstSeen: new Date(1000).toISOString(),
        lastSeen: new Date(5000).toISOString(),
      },
      expect.objectContaining({ destination: 'b', samples: 1 }),
    ]);
    expect(batch.unresolved.unknownRemote).toBe(3);
    expect(acc.drain().edges).toEqual([]);
  });

  it('holds at most maxEdges distinct edges and counts the rest as dropped', () => {
    const acc = new WireAccumulator(2);
    acc.add([e('a'), e('b'), e('c')], none, 1);
    acc.add([e('a'), e('d')], none, 2);
    const batch = acc.drain();
    expect(batch.edges.map((x) => x.destination)).toEqual(['a', 'b']);
    expect(batch.edges[0]!.samples).toBe(2);
    expect(batch.dropped).toBe(2);
  });

  it('puts back a batch that failed to ship, merged with newer samples', () => {
    const acc = new WireAccumulator(10);
    acc.add([e('a')], none, 1000);
    const failed = acc.drain();
    acc.add([e('a')], none, 9000);
    acc.restore(failed);
    const [edge] = acc.drain().edges;
    expect(edge).toMatchObject({ samples: 2, connections: 4 });
    expect(edge!.firstSeen).toBe(new Date(1000).toISOString());
    expect(edge!.lastSeen).toBe(new Date(9000).toISOString());
  });
});

describe('address map file', () => {
  it('normalises keys to what sampling sees (IPv6 compressed, IPv4-mapped as IPv4)', () => {
    expect(
      parseAddressMap(
        JSON.stringify({
          '10.96.0.7:5432': 'orders-db',
          '[fd00:0:0::7]:443': 'ledger',
          '::ffff:10.0.0.1': 'mapped',
          '10.0.3.12': 'payments',
        }),
        'map.json',
      ),
    ).toEqual({
      '10.96.0.7:5432': 'orders-db',
      '[fd00::7]:443': 'ledger',
      '10.0.0.1': 'mapped',
      '10.0.3.12': 'payments',
    });
  });

  it('refuses bad files naming the file and the key', () => {
    const bad = (text: string) => () => parseAddressMap(text, 'map.json');
    expect(bad('[1]')).toThrow(/^map\.json: expected an object/);
    expect(bad('{"orders:80": "x"}')).toThrow(/^map\.json: key "orders:80": expected an IP/);
    expect(bad('{"1.2.3.4:70000": "x"}')).toThrow(/key "1\.2\.3\.4:70000"/);
    expect(bad('{"1.2.3.4": "a b"}')).toThrow(/key "1\.2\.3\.4": the service must be/);
    expect(bad('{')).toThrow(/^map\.json: not JSON/);
  });

  it('only ever throws AGENT_BAD_OPTIONS, on any text or object', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc
            .dictionary(fc.oneof(fc.string(), fc.ipV4(), fc.ipV6()), fc.anything())
            .map((o) => JSON.stringify(o)),
        ),
        (text) => {
          try {
            parseAddressMap(text, 'f');
          } catch (e) {
            expect(e).toBeInstanceOf(AgentError);
            expect((e as AgentError).code).toBe('AGENT_BAD_OPTIONS');
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
