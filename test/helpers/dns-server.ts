import { Resolver } from 'node:dns/promises';
import dns2 from 'dns2';

const { Packet } = dns2;

/** Records per lower-case name: TXT values (split into 255-octet strings on the wire), MX, A. */
export interface Zone {
  [name: string]: { TXT?: string[]; MX?: { exchange: string; priority: number }[]; A?: string[] };
}

export interface TestDnsServer {
  port: number;
  zone: Zone;
  /** A real resolver (node:dns) pointed at this server only. */
  resolver: Resolver;
  /** `mailauth`'s resolver option, backed by the real resolver above. */
  resolve(name: string, rrtype: string): Promise<string[][] | string[]>;
  close(): Promise<void>;
}

/** An authoritative DNS server on a free UDP port, answering from `zone` (which tests may edit). */
export async function startDnsServer(zone: Zone): Promise<TestDnsServer> {
  const server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      // dns2's typings want encoded Resource objects; the encoder takes these plain records.
      const answers = response.answers as unknown as object[];
      const question = request.questions[0];
      const records = question ? zone[question.name.toLowerCase().replace(/\.$/, '')] : undefined;
      if (question && records) {
        const base = { name: question.name, class: Packet.CLASS.IN, ttl: 60 };
        if (question.type === Packet.TYPE.TXT) {
          for (const text of records.TXT ?? []) answers.push({ ...base, type: Packet.TYPE.TXT, data: text.match(/.{1,255}/g) ?? [''] });
        } else if (question.type === Packet.TYPE.MX) {
          for (const mx of records.MX ?? []) answers.push({ ...base, type: Packet.TYPE.MX, exchange: mx.exchange, priority: mx.priority });
        } else if (question.type === Packet.TYPE.A) {
          for (const address of records.A ?? []) answers.push({ ...base, type: Packet.TYPE.A, address });
        }
      } else if (question) {
        response.header.rcode = 3; // NXDOMAIN
      }
      send(response);
    },
  });
  const addresses = await server.listen({ udp: { port: 0, address: '127.0.0.1' } });
  const port = addresses.udp!.port;
  const resolver = new Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
  return {
    port,
    zone,
    resolver,
    async resolve(name, rrtype) {
      return (await resolver.resolve(name, rrtype)) as string[][] | string[];
    },
    close: () => server.close(),
  };
}
