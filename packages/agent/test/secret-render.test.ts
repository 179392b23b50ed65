/**
 * Rendering held secrets to files: on tmpfs (/dev/shm) with mode 0600, atomically replaced,
 * re-rendered when a pending version activates, a reload command run after a change only, and
 * a directory on disk refused.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type HeldSecret,
  parseSecretEvent,
  SecretRenderer,
  SecretStore,
  TMPFS_MAGIC,
} from '../src/index.ts';

const log = pino({ level: 'silent' });
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const shmDir = () => {
  const d = mkdtempSync('/dev/shm/ward-render-');
  dirs.push(d);
  return d;
};
const event = (revision: number, versions: unknown[]): HeldSecret => {
  const e = parseSecretEvent({
    service: 'shop/orders',
    spiffeId: 'spiffe://td/ns/shop/sa/orders',
    secret: 'shop/db',
    revision,
    type: 'static',
    versions,
  });
  if (typeof e === 'string') throw new Error(e);
  return e;
};
const until = async (check: () => boolean) => {
  while (!check()) await new Promise((r) => setTimeout(r, 20));
};

describe.skipIf(statfsSync('/dev/shm', { bigint: false }).type !== TMPFS_MAGIC)(
  'SecretRenderer',
  () => {
    it('renders to tmpfs with mode 0600, replaces atomically and runs the command after a change', async () => {
      const dir = shmDir();
      const destination = join(dir, 'db.conf');
      const marker = join(dir, 'reloads');
      const store = new SecretStore();
      store.accept(
        event(1, [
          { version: 1, data: { user: 'orders', password: 'p1' }, notBefore: 0, notAfter: null },
        ]),
      );
      const renderer = new SecretRenderer({
        templates: [
          {
            service: 'shop/orders',
            secret: 'shop/db',
            destination,
            template: 'user={{ user }} password={{password}} v{{ version }}\n',
            command: [
              process.execPath,
              '-e',
              `require('fs').appendFileSync(${JSON.stringify(marker)}, 'x')`,
            ],
          },
          { service: 'shop/orders', secret: 'shop/db', destination: join(dir, 'raw.json') },
        ],
        store,
        logger: log,
      });
      await renderer.start();
      try {
        expect(readFileSync(destination, 'utf8')).toBe('user=orders password=p1 v1\n');
        expect(statSync(destination).mode & 0o777).toBe(0o600);
        expect(JSON.parse(readFileSync(join(dir, 'raw.json'), 'utf8'))).toEqual({
          user: 'orders',
          password: 'p1',
        });
        expect(() => statSync(marker)).toThrow(); // the first render runs no command
        const inode = statSync(destination).ino;

        // A new version pending for 300 ms: nothing changes until it activates, then the file is
        // replaced (a new inode: renamed over, never rewritten in place) and the command runs once.
        const now = Date.now();
        store.accept(
          event(2, [
            {
              version: 1,
              data: { user: 'orders', password: 'p1' },
              notBefore: 0,
              notAfter: now + 60_000,
            },
            {
              version: 2,
              data: { user: 'orders', password: 'p2' },
              notBefore: now + 300,
              notAfter: null,
            },
          ]),
        );
        await renderer.settled();
        expect(readFileSync(destination, 'utf8')).toContain('p1');
        await until(() => renderer.reloads === 1);
        expect(readFileSync(destination, 'utf8')).toBe('user=orders password=p2 v2\n');
        expect(statSync(destination).ino).not.toBe(inode);
        expect(statSync(destination).mode & 0o777).toBe(0o600);
        expect(readFileSync(marker, 'utf8')).toBe('x');
        // No temporary file is left beside it.
        expect(readdirSync(dir).sort()).toEqual(['db.conf', 'raw.json', 'reloads']);

        // The service may no longer read it: the file goes.
        store.accept({ ...event(3, []), versions: undefined, removed: true });
        await renderer.settled();
        expect(() => statSync(destination)).toThrow();
      } finally {
        await renderer.close();
      }
    });

    it('after a restart, rewrites and reloads only when the value changed while it was down', async () => {
      const dir = shmDir();
      const destination = join(dir, 'db.conf');
      const marker = join(dir, 'reloads');
      const store = new SecretStore();
      const v = (version: number, password: string) => ({
        version,
        data: { password },
        notBefore: 0,
        notAfter: null,
      });
      store.accept(event(1, [v(1, 'p1')]));
      const template = {
        service: 'shop/orders',
        secret: 'shop/db',
        destination,
        template: 'password={{ password }}\n',
        command: [
          process.execPath,
          '-e',
          `require('fs').appendFileSync(${JSON.stringify(marker)}, 'x')`,
        ],
      };
      const run = async () => {
        const r = new SecretRenderer({ templates: [template], store, logger: log });
        await r.start();
        await r.close();
        return r;
      };
      await run();
      expect(readFileSync(destination, 'utf8')).toBe('password=p1\n');
      const inode = statSync(destination).ino;

      // Restarted with the same value: the file is left as it is, no command runs.
      const same = await run();
      expect(same.renders).toBe(0);
      expect(statSync(destination).ino).toBe(inode);
      expect(() => statSync(marker)).toThrow();

      // Rotated while the agent was down: the restarted agent writes it and runs the command,
      // as after any change (the program reading the file must learn of the new value).
      store.accept(event(2, [v(2, 'p2')]));
      const changed = await run();
      expect(readFileSync(destination, 'utf8')).toBe('password=p2\n');
      expect(changed.reloads).toBe(1);
      expect(readFileSync(marker, 'utf8')).toBe('x');
    });

    it("runs the reload command without the agent's own credentials in its environment", async () => {
      const dir = shmDir();
      const out = join(dir, 'env.json');
      const store = new SecretStore();
      store.accept(event(1, [{ version: 1, data: { value: 'a' }, notBefore: 0, notAfter: null }]));
      const saved = { token: process.env.WARD_JOIN_TOKEN, keep: process.env.RENDER_TEST_KEEP };
      process.env.WARD_JOIN_TOKEN = 'join-token-of-the-agent';
      process.env.RENDER_TEST_KEEP = 'kept';
      const renderer = new SecretRenderer({
        templates: [
          {
            service: 'shop/orders',
            secret: 'shop/db',
            destination: join(dir, 'value'),
            command: [
              process.execPath,
              '-e',
              `require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(process.env))`,
            ],
          },
        ],
        store,
        logger: log,
      });
      try {
        await renderer.start();
        store.accept(
          event(2, [{ version: 2, data: { value: 'b' }, notBefore: 0, notAfter: null }]),
        );
        await until(() => renderer.reloads === 1);
        const env = JSON.parse(readFileSync(out, 'utf8')) as Record<string, string>;
        expect(env.RENDER_TEST_KEEP).toBe('kept');
        expect(env.WARD_JOIN_TOKEN).toBeUndefined();
      } finally {
        await renderer.close();
        for (const [k, v] of [
          ['WARD_JOIN_TOKEN', saved.token],
          ['RENDER_TEST_KEEP', saved.keep],
        ] as const) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
    });

    it('does not write a template naming a field the version lacks', async () => {
      const dir = shmDir();
      const store = new SecretStore();
      store.accept(event(1, [{ version: 1, data: { value: 'v' }, notBefore: 0, notAfter: null }]));
      const renderer = new SecretRenderer({
        templates: [
          {
            service: 'shop/orders',
            secret: 'shop/db',
            destination: join(dir, 'x'),
            template: '{{ nope }}',
          },
        ],
        store,
        logger: log,
      });
      await renderer.start();
      await renderer.close();
      expect(readdirSync(dir)).toEqual([]);
    });

    it('refuses a destination whose directory is not on tmpfs, unless allowDisk', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'ward-render-disk-'));
      dirs.push(dir);
      expect(statfsSync(dir).type).not.toBe(TMPFS_MAGIC);
      const store = new SecretStore();
      store.accept(event(1, [{ version: 1, data: { value: 'v' }, notBefore: 0, notAfter: null }]));
      const t = { service: 'shop/orders', secret: 'shop/db', destination: join(dir, 'x') };
      await expect(
        new SecretRenderer({ templates: [t], store, logger: log }).start(),
      ).rejects.toMatchObject({
        code: 'AGENT_SECRET_RENDER',
      });
      expect(readdirSync(dir)).toEqual([]);
      const allowed = new SecretRenderer({
        templates: [{ ...t, allowDisk: true }],
        store,
        logger: log,
      });
      await allowed.start();
      await allowed.close();
      expect(readFileSync(join(dir, 'x'), 'utf8')).toBe('v');
    });
    it('removes a file a previous run left once a whole snapshot shows the secret withdrawn', async () => {
      const dir = shmDir();
      const destination = join(dir, 'db.conf');
      const template = { service: 'shop/orders', secret: 'shop/db', destination };
      // A previous run rendered the secret.
      const before = new SecretStore();
      before.accept(
        event(1, [{ version: 1, data: { value: 'v1' }, notBefore: 0, notAfter: null }]),
      );
      const first = new SecretRenderer({ templates: [template], store: before, logger: log });
      await first.start();
      await first.close();
      expect(readFileSync(destination, 'utf8')).toBe('v1');
      // This run: the secret was withdrawn while the agent was stopped, so it never arrives.
      const store = new SecretStore();
      const renderer = new SecretRenderer({ templates: [template], store, logger: log });
      await renderer.start();
      try {
        // Before a whole snapshot was read, the file may just not have arrived yet: kept.
        expect(readFileSync(destination, 'utf8')).toBe('v1');
        store.markSynced();
        await until(() => !readdirSync(dir).includes('db.conf'));
      } finally {
        await renderer.close();
      }
    });

    it('removes the file when every version of the secret has expired', async () => {
      const dir = shmDir();
      const destination = join(dir, 'db.conf');
      const store = new SecretStore();
      store.accept(
        event(1, [{ version: 1, data: { value: 'v1' }, notBefore: 0, notAfter: Date.now() + 300 }]),
      );
      const renderer = new SecretRenderer({
        templates: [{ service: 'shop/orders', secret: 'shop/db', destination }],
        store,
        logger: log,
      });
      await renderer.start();
      try {
        expect(readFileSync(destination, 'utf8')).toBe('v1');
        await until(() => !readdirSync(dir).includes('db.conf'));
      } finally {
        await renderer.close();
      }
    });
  },
);
