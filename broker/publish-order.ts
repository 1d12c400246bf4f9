// Keeps aedes from dropping messages it has accepted.
//
// aedes numbers every publication (brokerCounter) as it arrives, then stores
// QoS 1 copies for persistent sessions (an asynchronous write) before it hands
// the message to its emitter, while QoS 0 messages go to the emitter at once.
// Each client drops any message whose number is not higher than the last one
// it was given (`dedupe` in aedes/lib/client.js). So a QoS 0 message that
// overtakes a QoS 1 message still being stored makes the client drop the QoS
// 1 message — an emergency command overtaken by a chunk of audio would be held
// back until the device's next reconnect (aedes issues #955, #994).
//
// This wrapper hands publications to the emitter in the order aedes numbered
// them: a publication that reaches the emitter early waits until every
// publication numbered before it has been emitted or has failed.

interface Emitter {
  emit(packet: { brokerId?: string | null; brokerCounter?: number }, cb?: (err?: Error) => void): void;
}

interface AedesLike {
  id: string;
  counter: number;
  mq: Emitter;
  publish(packet: { brokerCounter?: number }, client: unknown, done?: (err?: Error) => void): void;
}

type Slot = { state: 'waiting' } | { state: 'ready'; packet: object; cb?: (err?: Error) => void } | { state: 'done' };

export function keepPublishOrder(aedes: AedesLike): { held: () => number } {
  const emit = aedes.mq.emit.bind(aedes.mq);
  const order: number[] = []; // numbers in publication order, not yet emitted or abandoned
  const slots = new Map<number, Slot>();
  let held = 0;

  const drain = () => {
    while (order.length) {
      const n = order[0]!;
      const s = slots.get(n)!;
      if (s.state === 'waiting') return;
      order.shift();
      slots.delete(n);
      if (s.state === 'ready') {
        held--;
        emit(s.packet, s.cb);
      }
    }
  };

  aedes.mq.emit = (packet, cb) => {
    const n = packet.brokerCounter;
    if (n === undefined || packet.brokerId !== aedes.id || slots.get(n)?.state !== 'waiting') return emit(packet, cb);
    if (order[0] === n) {
      // Nothing numbered before it is pending: straight through.
      order.shift();
      slots.delete(n);
      emit(packet, cb);
      drain();
      return;
    }
    slots.set(n, { state: 'ready', packet, ...(cb ? { cb } : {}) });
    held++;
  };

  const publish = aedes.publish.bind(aedes);
  aedes.publish = (packet, client, done) => {
    if (typeof client === 'function') {
      done = client as (err?: Error) => void;
      client = null;
    }
    // aedes numbers a publication synchronously at the start of publish(),
    // unless it already carries a number (forwarded from another broker).
    const n = packet.brokerCounter ? null : aedes.counter + 1;
    if (n !== null) {
      order.push(n);
      slots.set(n, { state: 'waiting' });
    }
    publish(packet, client, (err?: Error) => {
      if (n !== null) {
        const s = slots.get(n);
        // Finished without reaching the emitter (an error, a topic refused): release its turn.
        if (s && s.state === 'waiting') {
          slots.set(n, { state: 'done' });
          drain();
        }
      }
      done?.(err);
    });
  };

  return { held: () => held };
}
