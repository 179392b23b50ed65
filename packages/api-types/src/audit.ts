/** One entry of the audit log, as `GET /v1/audit` lists it (packages/server/src/store/audit.ts). */
export interface AuditEntryV1 {
  id: number;
  /** Position in the hash chain (1, 2, 3, …). */
  seq: number;
  at: string;
  actor: { id: string; name: string };
  action: string;
  target: string;
  revision: number | null;
  detail: Record<string, unknown>;
  prevHash: string;
  hash: string;
}
