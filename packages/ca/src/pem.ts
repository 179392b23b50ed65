import { CaError } from './errors.ts';

/** Wraps DER bytes as PEM with the given label (`CERTIFICATE`, `PRIVATE KEY`, …). */
export function toPem(der: Uint8Array | ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der instanceof ArrayBuffer ? new Uint8Array(der) : der).toString(
    'base64',
  );
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Every PEM block of `text` as `{ label, der }`, in order. */
export function pemBlocks(text: string): { label: string; der: Buffer }[] {
  const out: { label: string; der: Buffer }[] = [];
  for (const m of text.matchAll(PEM_BLOCK)) {
    const body = m[2]!.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) continue;
    out.push({ label: m[1]!, der: Buffer.from(body, 'base64') });
  }
  return out;
}

/** DER bytes of every `CERTIFICATE` block of `text`. */
export function certificatesFromPem(text: string): Buffer[] {
  return pemBlocks(text)
    .filter((b) => b.label === 'CERTIFICATE')
    .map((b) => b.der);
}

/**
 * Reads one DER object given as PEM (with `label`), or as base64 / base64url of the DER.
 * Throws `code` naming `field` when it is neither.
 */
export function derFromText(
  value: unknown,
  label: string,
  field: string,
  code: 'CA_BAD_CSR' | 'CA_BAD_KEY' | 'CA_BAD_CERTIFICATE',
): Buffer {
  if (typeof value !== 'string' || value.length === 0) {
    throw new CaError(code, `${field}: expected PEM or base64 DER text`, { field });
  }
  if (value.length > 64 * 1024) throw new CaError(code, `${field}: larger than 64 KiB`, { field });
  if (value.includes('-----BEGIN')) {
    const block = pemBlocks(value).find((b) => b.label === label);
    if (!block) throw new CaError(code, `${field}: no "${label}" PEM block`, { field });
    return block.der;
  }
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(value.trim())) {
    throw new CaError(code, `${field}: not PEM and not base64`, { field });
  }
  return Buffer.from(
    value.trim(),
    value.includes('-') || value.includes('_') ? 'base64url' : 'base64',
  );
}
