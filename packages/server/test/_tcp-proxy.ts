/**
 * A TCP proxy on loopback between a replica and PostgreSQL (or a PDP and a replica) that can be
 * cut (listener closed, every socket destroyed), mended, or frozen (connections stay open, nothing
 * flows: a SIGSTOPped peer or a path dropping packets) — as a whole or one connection at a time.
 */
import { createServer, type Server, Socket } from 'node:net';

export class TcpProxy {
  #server: Server | null = null;
  #sockets = new Set<Socket>();
  /** Upstream socket by its local port (what PostgreSQL sees as the client port). */
  readonly #byUpstreamPort = new Map<number, [Socket, Socket]>();
  port = 0;
  readonly #target: URL;
  #frozen = false;

  constructor(target: string) {
    this.#target = new URL(target);
  }

  /** Connections opened while frozen are accepted and never answered, as by a stopped process. */
  freeze(): void {
    this.#frozen = true;
    for (const s of this.#sockets) {
      s.unpipe();
      s.pause();
    }
  }

  /**
   * Freezes the one connection whose upstream socket has local port `port` (PostgreSQL's
   * `pg_stat_activity.client_port`): it stays open and silent both ways; the others flow.
   * Returns false when no such connection passes through this proxy.
   */
  freezeConnection(port: number): boolean {
    const pair = this.#byUpstreamPort.get(port);
    if (!pair) return false;
    for (const s of pair) {
      s.unpipe();
      s.pause();
    }
    return true;
  }

  async open(): Promise<void> {
    this.#frozen = false;
    const server = createServer((client) => {
      if (this.#frozen) {
        this.#sockets.add(client);
        client.on('close', () => this.#sockets.delete(client));
        client.on('error', () => {});
        return;
      }
      const upstream = new Socket();
      upstream.connect(Number(this.#target.port || 5432), this.#target.hostname, () => {
        const local = upstream.localPort;
        if (local === undefined) return;
        this.#byUpstreamPort.set(local, [client, upstream]);
        upstream.on('close', () => this.#byUpstreamPort.delete(local));
      });
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => server?.close(() => resolve()) ?? resolve());
  }

  /** The URL with host:port pointing at this proxy. */
  via(url: string): string {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }
}
