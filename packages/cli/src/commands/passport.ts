import { readFileSync } from 'node:fs';
import type { PassportKeyV1 } from '@ward/api-types';
import {
  generatePassportKeyMaterial,
  keyringFromBundleKeys,
  mintPassport,
  PassportError,
  PassportKeyring,
  verifyPassport,
  zoneAudience,
} from '@ward/passport';
import type { Command } from 'commander';
import { CliError } from '../errors.ts';
import { addOutputOption, collect, printResult } from '../options.ts';
import { type ConnectionOptions, call, table, withConnection } from './_api.ts';

/**
 * `ward passport mint|verify|keygen`: mint and check passports by hand (debugging, tests,
 * demos). Key files hold either the unpadded base64url text of one HS256 key, or a JSON list of
 * `PassportKeyV1` (as in a bundle's `passportKeys`; an EdDSA entry mints only with its
 * `privateKey`). `ward passport keys|rotate` manage the control plane's keys per trust zone.
 */
export function register(program: Command): void {
  const passport = program.command('passport').description('mint and verify end-user passports');

  passport
    .command('mint')
    .description('mint a passport and print it')
    .requiredOption('--key-file <file>', 'base64url key text, or a JSON list of PassportKeyV1')
    .option('--kid <kid>', 'key id (required with a plain key file; else picks from the list)')
    .requiredOption('--sub <subject>', 'end-user subject')
    .option('--iss <service>', 'minting service', 'ward-cli')
    .option(
      '--attr <k=v>',
      'attribute (repeatable); v is parsed as JSON when it parses',
      collect,
      [],
    )
    .option('--ttl <duration>', 'lifetime: 90s, 5m, 1h or seconds', '5m')
    .option(
      '--aud <audience>',
      'who it is for: a service name or zone:<zone> (repeatable; default zone:<--zone>)',
      collect,
      [],
    )
    .option('--zone <zone>', 'trust zone, for the default audience', 'default')
    .action(
      (opts: {
        keyFile: string;
        kid?: string;
        sub: string;
        iss: string;
        attr: string[];
        ttl: string;
        aud: string[];
        zone: string;
      }) => {
        const ring = loadKeyring(opts.keyFile, opts.kid);
        if (opts.kid !== undefined) ring.use(opts.kid);
        const attrs: Record<string, unknown> = {};
        for (const pair of opts.attr) {
          const eq = pair.indexOf('=');
          if (eq < 1) throw new CliError('CLI_USAGE', `--attr ${pair}: expected key=value`, 2);
          const raw = pair.slice(eq + 1);
          let value: unknown = raw;
          try {
            value = JSON.parse(raw);
          } catch {
            // Not JSON: keep the text.
          }
          attrs[pair.slice(0, eq)] = value;
        }
        const aud = opts.aud.length > 0 ? opts.aud : [zoneAudience(opts.zone)];
        const token = guard(() =>
          mintPassport(
            { sub: opts.sub, iss: opts.iss, attrs, ttlSec: parseTtl(opts.ttl), aud },
            ring,
          ),
        );
        process.stdout.write(`${token}\n`);
      },
    );

  const verify = passport
    .command('verify')
    .description('verify a passport and print its claims as JSON (exit 1 if refused)')
    .argument('<token>', 'the passport')
    .requiredOption('--key-file <file>', 'base64url key text, or a JSON list of PassportKeyV1')
    .option('--kid <kid>', 'key id of a plain key file (default: the token’s own kid)')
    .option('--skew <seconds>', 'clock-skew tolerance', '30')
    .option(
      '--audience <audience>',
      'accept only passports for this service or zone:<zone> (repeatable; default: no check)',
      collect,
      [],
    )
    .option('--max-lifetime <duration>', 'largest exp - iat accepted', '1h');
  addOutputOption(verify, ['json', 'yaml']).action(
    (
      token: string,
      opts: {
        keyFile: string;
        kid?: string;
        skew: string;
        audience: string[];
        maxLifetime: string;
        output: string;
      },
    ) => {
      const kid = opts.kid ?? /^v[12]\.([A-Za-z0-9_-]{1,64})\./.exec(token)?.[1] ?? 'unknown';
      const ring = loadKeyring(opts.keyFile, kid);
      const skew = Number(opts.skew);
      if (!Number.isFinite(skew) || skew < 0)
        throw new CliError('CLI_USAGE', '--skew must be seconds >= 0', 2);
      const claims = guard(() =>
        verifyPassport(token.trim(), ring, {
          clockSkewSec: skew,
          maxLifetimeSec: parseTtl(opts.maxLifetime, '--max-lifetime'),
          ...(opts.audience.length > 0 ? { audience: opts.audience } : {}),
        }),
      );
      printResult(opts.output, claims, () => '');
    },
  );

  const keygen = passport
    .command('keygen')
    .description('make a key and print it as a JSON key list (for mint/verify outside Ward)')
    .option('--alg <alg>', 'HS256 (shared secret) or EdDSA (Ed25519 key pair)', 'HS256')
    .requiredOption('--kid <kid>', 'key id')
    .option('--public', 'EdDSA: print only the public key (what verifiers hold)');
  addOutputOption(keygen, ['json', 'yaml']).action(
    (opts: { alg: string; kid: string; public?: boolean; output: string }) => {
      if (opts.alg !== 'HS256' && opts.alg !== 'EdDSA') {
        throw new CliError('CLI_USAGE', '--alg must be HS256 or EdDSA', 2);
      }
      const material = generatePassportKeyMaterial(opts.alg);
      const entry: PassportKeyV1 = { kid: opts.kid, alg: opts.alg, key: material.key };
      if (material.privateKey !== undefined && !opts.public) entry.privateKey = material.privateKey;
      guard(() => keyringFromBundleKeys([entry]));
      if (opts.output === 'json') process.stdout.write(`${JSON.stringify([entry])}\n`);
      else printResult(opts.output, [entry], () => '');
    },
  );

  withConnection(
    addOutputOption(
      passport
        .command('keys')
        .description("list the control plane's passport keys (ids, zones, states; never a secret)")
        .option('--zone <zone>', 'only this trust zone'),
    ),
  ).action(async (opts: ConnectionOptions & { zone?: string; output: string }) => {
    const query = opts.zone !== undefined ? `?zone=${encodeURIComponent(opts.zone)}` : '';
    const r = await call<{ items: { kid: string; zone: string; alg: string; status: string }[] }>(
      opts,
      'GET',
      `/v1/passport-keys${query}`,
    );
    printResult(opts.output, r.items, () =>
      table([
        ['ZONE', 'KID', 'ALG', 'STATUS'],
        ...r.items.map((k) => [k.zone, k.kid, k.alg, k.status]),
      ]),
    );
  });

  withConnection(
    addOutputOption(
      passport
        .command('rotate')
        .description(
          "new active key for one trust zone; the zone's previous key keeps verifying until the next rotation",
        )
        .option('--zone <zone>', 'trust zone (its first rotation creates it)', 'default')
        .option('--alg <alg>', "HS256 or EdDSA (default: the zone's current algorithm)")
        .option('--retire-previous', 'drop the old key at once (after a leak)'),
    ),
  ).action(
    async (
      opts: ConnectionOptions & {
        zone: string;
        alg?: string;
        retirePrevious?: boolean;
        output: string;
      },
    ) => {
      if (opts.alg !== undefined && opts.alg !== 'HS256' && opts.alg !== 'EdDSA') {
        throw new CliError('CLI_USAGE', '--alg must be HS256 or EdDSA', 2);
      }
      const r = await call<{ kid: string; zone: string; alg: string; revision: number }>(
        opts,
        'POST',
        '/v1/passport-keys/rotate',
        {
          zone: opts.zone,
          ...(opts.alg !== undefined ? { alg: opts.alg } : {}),
          retirePrevious: opts.retirePrevious === true,
        },
      );
      printResult(
        opts.output,
        r,
        () => `zone ${r.zone}: new ${r.alg} key ${r.kid} at revision ${r.revision}\n`,
      );
    },
  );
}

function parseTtl(text: string, flag = '--ttl'): number {
  const m = /^(\d+)(s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new CliError('CLI_USAGE', `${flag} ${text}: expected e.g. 90s, 5m, 1h`, 2);
  const n = Number(m[1]) * ({ s: 1, m: 60, h: 3600, d: 86400 } as const)[(m[2] ?? 's') as 's'];
  if (n < 1) throw new CliError('CLI_USAGE', `${flag} must be at least 1s`, 2);
  return n;
}

function loadKeyring(file: string, kid: string | undefined): PassportKeyring {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new CliError('CLI_IO', `${file}: ${(error as Error).message}`);
  }
  return guard(() => {
    if (text.trimStart().startsWith('[')) {
      let keys: PassportKeyV1[];
      try {
        keys = JSON.parse(text) as PassportKeyV1[];
      } catch (error) {
        throw new CliError('CLI_USAGE', `${file}: not JSON: ${(error as Error).message}`);
      }
      const ring = keyringFromBundleKeys(keys);
      if (kid !== undefined && !ring.get(kid)) {
        throw new CliError('PASSPORT_UNKNOWN_KEY', `${file}: has no key ${kid}`);
      }
      return ring;
    }
    if (kid === undefined) {
      throw new CliError('CLI_USAGE', `${file} holds one plain key: give its id with --kid`, 2);
    }
    return new PassportKeyring([{ kid, key: text.trim() }]);
  }, file);
}

/** Turns passport errors into one-line CLI errors carrying the code. */
function guard<T>(fn: () => T, where?: string): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof PassportError) {
      throw new CliError(error.code, `${where ? `${where}: ` : ''}${error.code}: ${error.message}`);
    }
    if (error instanceof TypeError) throw new CliError('CLI_USAGE', error.message, 2);
    throw error;
  }
}
