// Run a MicroPython RP2040 firmware (its firmware.elf) in the rp2040js emulator and execute
// Python scripts on it through the raw REPL over USB CDC, as mpremote does on a real Pico.
//
// Why the ELF and not the UF2: the emulator's SSI (the flash controller) ignores writes, so
// MicroPython could neither format nor write its littlefs filesystem. This runner puts a BKPT
// at the entry of the SDK's flash_range_erase / flash_range_program (RAM functions: patched in
// their load image in flash, before boot) and does the erase / program on the emulated flash
// array, then returns to the caller; the ELF's symbol table says where those functions are.
//
// Usage:
//   node run.mjs --image firmware.elf [--put LOCAL=REMOTE ...] [--script FILE ...]
//                [--timeout-s 900]
// Files are written to the board's filesystem first (each through a raw-REPL exec), then the
// board is soft-reset (a clean heap) and each script runs in turn; a script's output goes to
// stdout. Exit 0 when every script ran without an exception; 1 when one raised (its traceback
// on stderr); 2 on a timeout, a crash of the emulated CPU or a bad argument.
// Last line on stderr: "rp2040js: cycles=N emulated_ms=M": N the CPU cycles executed (rp2040js's
// Cortex-M0+ timing; waits in WFI not counted), M the emulated time at the end.
import { readFileSync } from 'fs';
import { Simulator, USBCDC, ConsoleLogger, LogLevel } from 'rp2040js';
import { bootromB1 } from './bootrom_b1.mjs';

const FLASH_BASE = 0x10000000;
const BKPT_ERASE = 0x71;
const BKPT_PROGRAM = 0x72;

function fail(msg) {
  process.stderr.write(`rp2040js: ${msg}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const a = { puts: [], scripts: [], timeout: 900 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (k === '--image') a.image = v;
    else if (k === '--put') a.puts.push(v);
    else if (k === '--script') a.scripts.push(v);
    else if (k === '--timeout-s') a.timeout = Number(v);
    else fail(`unknown argument ${k}`);
    i++;
  }
  if (!a.image) fail('--image firmware.elf is required');
  return a;
}

/** The PT_LOAD segments (physical address, bytes) and the symbol table of a 32-bit ELF. */
function readElf(buf) {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (dv.getUint32(0, false) !== 0x7f454c46 || buf[4] !== 1) fail('not a 32-bit ELF image');
  const u32 = (o) => dv.getUint32(o, true);
  const u16 = (o) => dv.getUint16(o, true);
  const phoff = u32(28), shoff = u32(32), phentsize = u16(42), phnum = u16(44);
  const shentsize = u16(46), shnum = u16(48);
  const segs = [];
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (u32(p) !== 1) continue; // PT_LOAD
    const off = u32(p + 4), vaddr = u32(p + 8), paddr = u32(p + 12), filesz = u32(p + 16);
    if (filesz) segs.push({ vaddr, paddr, data: buf.subarray(off, off + filesz) });
  }
  const sections = [];
  for (let i = 0; i < shnum; i++) {
    const s = shoff + i * shentsize;
    sections.push({ type: u32(s + 4), offset: u32(s + 16), size: u32(s + 20), link: u32(s + 24) });
  }
  const syms = new Map();
  for (const sec of sections) {
    if (sec.type !== 2) continue; // SHT_SYMTAB
    const str = sections[sec.link];
    for (let o = sec.offset; o < sec.offset + sec.size; o += 16) {
      let n = str.offset + u32(o);
      let name = '';
      while (buf[n]) name += String.fromCharCode(buf[n++]);
      if (name) syms.set(name, u32(o + 4));
    }
  }
  return { segs, syms };
}

/** Load the image into flash; return a function mapping a RAM function address to its flash copy. */
function loadImage(mcu, elf) {
  for (const s of elf.segs) {
    if (s.paddr < FLASH_BASE || s.paddr + s.data.length > FLASH_BASE + mcu.flash.length) {
      fail(`segment at 0x${s.paddr.toString(16)} is outside the flash`);
    }
    mcu.flash.set(s.data, s.paddr - FLASH_BASE);
  }
  return (addr) => {
    for (const s of elf.segs) {
      if (addr >= s.vaddr && addr < s.vaddr + s.data.length) return s.paddr + (addr - s.vaddr) - FLASH_BASE;
    }
    fail(`no load image holds 0x${addr.toString(16)}`);
  };
}

function patchBkpt(mcu, flashOffsetOf, syms, name, code) {
  if (!syms.has(name)) fail(`the image has no symbol ${name}`);
  const at = flashOffsetOf(syms.get(name) & ~1);
  mcu.flash[at] = code;
  mcu.flash[at + 1] = 0xbe; // BKPT #code (Thumb, little-endian)
}

const args = parseArgs(process.argv.slice(2));
const elf = readElf(new Uint8Array(readFileSync(args.image)));
const sim = new Simulator();
const mcu = sim.rp2040;
mcu.loadBootrom(bootromB1);
mcu.logger = new ConsoleLogger(LogLevel.Error);
const flashOffsetOf = loadImage(mcu, elf);
patchBkpt(mcu, flashOffsetOf, elf.syms, 'flash_range_erase', BKPT_ERASE);
patchBkpt(mcu, flashOffsetOf, elf.syms, 'flash_range_program', BKPT_PROGRAM);

const core = mcu.core;
const symList = [...elf.syms].map(([n, a]) => [a & ~1, n]).sort((x, y) => x[0] - y[0]);
function symbolAt(addr) { // the symbol at or below addr: where a fault happened
  let best = '?';
  for (const [a, n] of symList) { if (a <= addr) best = `${n}+0x${(addr - a).toString(16)}`; else break; }
  return best;
}
const ret = () => { core.PC = core.registers[14] & ~1; }; // BX LR
mcu.onBreak = (code) => {
  const r = core.registers;
  if (code === BKPT_ERASE) {
    mcu.flash.fill(0xff, r[0] >>> 0, (r[0] >>> 0) + (r[1] >>> 0));
    ret();
  } else if (code === BKPT_PROGRAM) {
    const off = r[0] >>> 0, src = r[1] >>> 0, n = r[2] >>> 0;
    for (let i = 0; i < n; i++) mcu.flash[off + i] &= mcu.readUint8(src + i); // NOR: 1 -> 0 only
    ret();
  } else {
    done(2, `the emulated CPU hit BKPT #${code} at 0x${(core.PC - 2).toString(16)}`);
  }
};

// ---- raw REPL over USB CDC ----
const cdc = new USBCDC(mcu.usbCtrl);
let rx = '';
let connected = false;
const pending = []; // bytes for the board, fed as its USB FIFO drains (the FIFO drops on overflow)
const send = (s) => { for (const ch of Buffer.from(s, 'latin1')) pending.push(ch); };
cdc.onDeviceConnected = () => { connected = true; };
cdc.onSerialData = (buf) => { rx += Buffer.from(buf).toString('latin1'); };

function pyBytes(data) {
  return `b'${Array.from(data, (b) => '\\x' + b.toString(16).padStart(2, '0')).join('')}'`;
}

// the steps: enter the raw REPL, write files, soft-reset, run scripts
const steps = [];
steps.push({ kind: 'enter' });
for (const p of args.puts) {
  const [local, remote] = p.split('=');
  if (!local || !remote) fail(`--put wants LOCAL=REMOTE, got ${p}`);
  const data = readFileSync(local);
  const dir = remote.includes('/') ? remote.slice(0, remote.lastIndexOf('/')) : '';
  let code = dir ? `import os\ntry:\n os.mkdir(${JSON.stringify(dir)})\nexcept OSError:\n pass\n` : '';
  steps.push({ kind: 'exec', code: code + `f=open(${JSON.stringify(remote)},'wb')\nf.close()`, quiet: true });
  for (let o = 0; o < data.length; o += 1024) {
    steps.push({ kind: 'exec', quiet: true,
      code: `f=open(${JSON.stringify(remote)},'ab')\nf.write(${pyBytes(data.subarray(o, o + 1024))})\nf.close()` });
  }
}
steps.push({ kind: 'reset' });
for (const s of args.scripts) steps.push({ kind: 'exec', code: readFileSync(s, 'latin1') });

let step = -1;
let phase = 'boot';
let bootAt = 0;
let exitCode = 0;
const verbose = process.env.RP2040JS_VERBOSE === '1';
function next() {
  step++;
  if (verbose) process.stderr.write(`rp2040js: step ${step} at ${((Date.now() - wallStart) / 1000).toFixed(1)} s wall\n`);
  rx = '';
  if (step >= steps.length) return done(exitCode);
  const s = steps[step];
  if (s.kind === 'enter') { send('\r\x03\x03\x01'); phase = 'enter'; }
  else if (s.kind === 'reset') { send('\x04'); phase = 'reset'; }
  else { send(s.code); send('\x04'); phase = 'exec'; }
}

function poll() {
  if (phase === 'boot') {
    if (connected && clock.nanos > bootAt) { phase = 'wait'; next(); }
  } else if (phase === 'enter' || phase === 'reset') {
    // "raw REPL; CTRL-B to exit\r\n>" (a soft reset prints "soft reboot" first)
    if (rx.endsWith('raw REPL; CTRL-B to exit\r\n>')) next();
  } else if (phase === 'exec') {
    if (rx.startsWith('OK')) {
      const parts = rx.slice(2).split('\x04');
      if (parts.length >= 3 && parts[2].startsWith('>')) {
        const s = steps[step];
        if (!s.quiet) process.stdout.write(parts[0]);
        if (parts[1]) {
          process.stderr.write(parts[1]);
          exitCode = 1;
          if (s.quiet) return done(1, 'writing a file failed');
        }
        next();
      }
    } else if (rx.length >= 2 && !rx.startsWith('OK')) {
      return done(2, `the raw REPL refused the code: ${JSON.stringify(rx.slice(0, 200))}`);
    }
  }
}

let finished = false;
function done(code, msg) {
  if (finished) return;
  finished = true;
  if (msg) process.stderr.write(`rp2040js: ${msg}\n`);
  const ms = (sim.clock.nanos / 1e6).toFixed(0);
  process.stderr.write(`rp2040js: cycles=${core.cycles} emulated_ms=${ms}\n`);
  process.exit(code);
}

const wallStart = Date.now();
const trace = process.env.RP2040JS_TRACE === '1'; // on a fault, print the jumps before it
const ring = new Array(1024);
let ri = 0;
function dumpTrace() { // where control went: the jumps among the last 1024 instructions, oldest first
  let last = -1;
  for (let k = 0; k < 1024; k++) {
    const pc = ring[(ri + k) & 1023];
    if (pc !== undefined && (pc < last || pc > last + 4)) process.stderr.write(`  pc 0x${pc.toString(16)} ${symbolAt(pc)}\n`);
    last = pc;
  }
}
const clock = sim.clock;
const cycleNanos = 8; // rp2040js's Simulator ticks its clock at 125 MHz
core.PC = FLASH_BASE; // boot stage 2, as rp2040js's MicroPython demo starts it
bootAt = 300e6; // let boot finish (300 ms emulated) before the first key
function run() {
  try {
    for (let i = 0; i < 200000 && !finished; i++) {
      if (core.waiting) {
        clock.tick(clock.nanosToNextAlarm); // WFI: time passes, no instruction runs
      } else {
        if (trace) { ring[ri] = core.PC; ri = (ri + 1) & 1023; }
        clock.tick(core.executeInstruction() * cycleNanos);
      }
    }
  } catch (e) {
    if (trace) dumpTrace();
    return done(2, `the emulated CPU faulted (${e.message}) at PC 0x${core.PC.toString(16)} ` +
      `(${symbolAt(core.PC)}), LR 0x${(core.registers[14] >>> 0).toString(16)} ` +
      `(${symbolAt(core.registers[14] >>> 0)}); step ${step}, output ${JSON.stringify(rx.slice(-300))}`);
  }
  while (pending.length && cdc.txFIFO.itemCount < 256) cdc.sendSerialByte(pending.shift());
  poll();
  if (finished) return;
  if (Date.now() - wallStart > args.timeout * 1000) {
    if (trace) dumpTrace();
    return done(2, `timed out after ${args.timeout} s (phase ${phase}, step ${step}); last output: ${JSON.stringify(rx.slice(-300))}`);
  }
  setImmediate(run);
}
run();
