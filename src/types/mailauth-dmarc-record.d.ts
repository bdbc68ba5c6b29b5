// mailauth ships no types for this file; these are the parts src/ops/doctor.ts uses.
declare module 'mailauth/lib/dmarc/get-dmarc-record.js' {
  type Resolve = (name: string, rrtype: string) => Promise<string[][] | string[]>;
  type RecordLookup = (name: string) => Promise<unknown>;
  interface DmarcRecord {
    v: string;
    p?: string;
    adkim?: string;
    aspf?: string;
    /** Where the record was found (the From domain, or its organizational domain). */
    recordDomain: string;
    orgDomain: string;
  }
  export default function getDmarcRecord(domain: string, resolver?: Resolve, opts?: { strict?: boolean }): Promise<DmarcRecord | false>;
  export function createRecordLookup(resolver?: Resolve, opts?: { strict?: boolean }): RecordLookup;
  export function getOrgDomain(domain: string, lookup: RecordLookup): Promise<string>;
}
