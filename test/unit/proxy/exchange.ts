// Shared by the relay tests: a TCP client that sends a payload and collects everything echoed back,
// and a listener that tracks its sockets so cleanup can destroy them.
import net from 'node:net';

/** Sends `payload` in uneven slices (so chunk boundaries differ between the sides), ends once as many bytes came back, resolves with them. */
export async function exchange(port: number, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    const c = net.connect(port, '127.0.0.1', () => {
      // Write in uneven slices so chunk boundaries differ between the sides.
      for (let off = 0; off < payload.length; ) {
        const len = Math.min(payload.length - off, 1 + ((off * 7919) % 70_000));
        c.write(payload.subarray(off, off + len));
        off += len;
      }
    });
    c.on('data', (d) => {
      parts.push(d);
      n += d.length;
      if (n >= payload.length) c.end();
    });
    c.on('close', () => resolve(Buffer.concat(parts)));
    c.on('error', reject);
  });
}

/** Listens on a loopback port; the returned cleanup destroys every socket still in `sockets`, then closes the server. */
export async function listenTracked(server: net.Server, sockets: Set<net.Socket>): Promise<{ port: number; cleanup: () => Promise<void> }> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const cleanup = (): Promise<void> =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return { port: (server.address() as net.AddressInfo).port, cleanup };
}
