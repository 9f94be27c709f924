/**
 * The self-contained HTML report (`--out DIR` → DIR/report.html): no network, no CDN. Tables are
 * static HTML; the charts (throughput over time per role, latency percentiles per job and
 * direction, lock contention and time asleep) are drawn as inline SVG by a small inline script
 * from the report's JSON embedded in the page. When the script has drawn every chart it sets
 * `data-charts` on <body> (a headless browser test checks it); an error sets `data-error`.
 */
import { TIME_HEAD, contendedPct, deviceBacking, humanBytes, humanCount, humanUs, latencyUnit, rowName, serviceQuantileUs, timeRows } from './format.js';
import type { RunReport } from './run-report.js';
import type { DirStats } from './types.js';

const esc = (s: unknown): string =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** JSON safe inside a <script> element. */
const scriptJson = (v: unknown): string => JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

function tableHtml(head: string[], rows: (string | number)[][], cls = ''): string {
  if (rows.length === 0) return '<p class="none">none</p>';
  return `<table class="${cls}"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

const n0 = (x: number) => Math.round(x).toLocaleString('en-US');

function dirRow(job: string, dir: string, d: DirStats): (string | number)[] {
  const u = latencyUnit(d.clat_ns.percentile['50.000000'] ?? d.clat_ns.mean);
  const l = (ns: number) => (ns / u.div).toFixed(ns / u.div >= 100 ? 0 : 2);
  const p = d.clat_ns.percentile;
  return [
    job,
    dir,
    humanCount(d.iops),
    // A word-sized operation moves no data worth a bandwidth (as in the text report).
    d.total_ios > 0 && d.io_bytes / d.total_ios <= 8 ? '—' : `${humanBytes(d.bw_bytes)}/s`,
    n0(d.total_ios),
    u.name,
    l(d.clat_ns.min),
    l(d.clat_ns.mean),
    l(d.clat_ns.max),
    l(d.clat_ns.stddev),
    l(p['50.000000'] ?? 0),
    l(p['90.000000'] ?? 0),
    l(p['99.000000'] ?? 0),
    l(p['99.900000'] ?? 0),
  ];
}

function counters(title: string, c?: Record<string, number | string>): string {
  if (!c || Object.keys(c).length === 0) return '';
  return `<h3>${esc(title)}</h3>${tableHtml(['name', 'value'], Object.entries(c).map(([k, v]) => [k, typeof v === 'number' ? n0(v) : v]), 'kv')}`;
}

const STYLE = `
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1d2330;background:#fbfbfd}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #dde;padding-bottom:4px} h3{font-size:14px;margin:16px 0 6px}
.meta{color:#667;font-size:12px} table{border-collapse:collapse;margin:6px 0;font-variant-numeric:tabular-nums}
th,td{padding:3px 10px;text-align:right;border-bottom:1px solid #e6e6ee} th{background:#eef0f6;font-weight:600}
td:first-child,th:first-child{text-align:left} .none{color:#889} .chart{background:#fff;border:1px solid #e0e2ea;border-radius:6px;margin:8px 0}
.ok{color:#1a7f37} .bad{color:#c62828;font-weight:600} .charts{display:block} .charts>div{width:100%}
svg text{font:11px system-ui,sans-serif;fill:#445}
pre.summary{background:#fff;border:1px solid #e0e2ea;padding:10px;overflow:auto;font-size:12px}`;

/** The chart script: reads #report-data, draws into #chart-* containers. Plain ES5-ish JS. */
const SCRIPT = String.raw`
(function(){
var NS='http://www.w3.org/2000/svg';
var COLORS=['#3366cc','#dc3912','#ff9900','#109618','#990099','#0099c6','#dd4477','#66aa00','#b82e2e','#316395'];
function el(n,a,p){var e=document.createElementNS(NS,n);for(var k in a)e.setAttribute(k,a[k]);if(p)p.appendChild(e);return e;}
function txt(p,x,y,s,anchor){var t=el('text',{x:x,y:y,'text-anchor':anchor||'start'},p);t.textContent=s;return t;}
function fmtUs(us){var a=Math.abs(us);if(a>=1e6)return (us/1e6).toFixed(a>=1e7?0:1)+' s';if(a>=1e3)return (us/1e3).toFixed(a>=1e4?0:1)+' ms';return (a>=10?Math.round(us):us.toFixed(1))+' µs';}
function fmt(x){var a=Math.abs(x);if(a>=1e9)return (x/1e9).toFixed(1)+'G';if(a>=1e6)return (x/1e6).toFixed(1)+'M';if(a>=1e3)return (x/1e3).toFixed(1)+'k';return a>=10||x===0?String(Math.round(x)):x.toFixed(1);}
function frame(id,w,h,title){var c=document.getElementById(id);var s=el('svg',{width:'100%',viewBox:'0 0 '+w+' '+h,preserveAspectRatio:'xMidYMid meet','class':'chart'},c);txt(s,w/2,16,title,'middle');return s;}
function axes(s,L,T,W,H,xmax,ymax,xl,yl,xf,yf){
  el('line',{x1:L,y1:T+H,x2:L+W,y2:T+H,stroke:'#889'},s);el('line',{x1:L,y1:T,x2:L,y2:T+H,stroke:'#889'},s);
  for(var i=0;i<=4;i++){var y=T+H-H*i/4;el('line',{x1:L,y1:y,x2:L+W,y2:y,stroke:'#eef'},s);txt(s,L-4,y+4,(yf||fmt)(ymax*i/4),'end');
    var x=L+W*i/4;txt(s,x,T+H+14,(xf||fmt)(xmax*i/4),'middle');}
  txt(s,L+W/2,T+H+30,xl,'middle');var t=txt(s,12,T+H/2,yl,'middle');t.setAttribute('transform','rotate(-90 12 '+(T+H/2)+')');
}
function legend(s,x,y,names){for(var i=0;i<names.length;i++){el('rect',{x:x,y:y+i*14-8,width:10,height:10,fill:COLORS[i%COLORS.length]},s);txt(s,x+14,y+i*14+1,names[i]);}}
function throughput(R){
  var tl=R.timeline,roles=[];
  // Reads and writes apart (writes dashed), per role.
  tl.roles.forEach(function(r){var any=function(a){return a&&a.some(function(v){return v>0;});};
    if(any(r.read_iops))roles.push({role:r.role+' read',iops:r.read_iops,dash:''});
    if(any(r.write_iops))roles.push({role:r.role+' write',iops:r.write_iops,dash:'5 3'});
    if(!any(r.read_iops)&&!any(r.write_iops)&&r.iops.length>0)roles.push({role:r.role,iops:r.iops,dash:''});});
  var w=960,h=320,L=60,T=28,W=w-L-210,H=h-T-50,s=frame('chart-throughput',w,h,'Throughput over time per role, reads and writes (IOPS, bins of '+tl.binMs+' ms)');
  var n=1,ymax=1;roles.forEach(function(r){n=Math.max(n,r.iops.length);r.iops.forEach(function(v){ymax=Math.max(ymax,v);});});
  var xmax=n*tl.binMs/1000;axes(s,L,T,W,H,xmax,ymax*1.05,'seconds','IOPS',function(x){return x.toFixed(1);});
  if(tl.rampMs>0){el('rect',{x:L,y:T,width:Math.min(W,W*tl.rampMs/1000/xmax),height:H,fill:'#f3e9c6',opacity:0.6},s);txt(s,L+4,T+12,'ramp');}
  roles.forEach(function(r,i){var d='';r.iops.forEach(function(v,k){var x=L+W*((k+0.5)*tl.binMs/1000)/xmax,y=T+H-H*v/(ymax*1.05);d+=(k?'L':'M')+x.toFixed(1)+' '+y.toFixed(1);});
    el('path',{d:d,fill:'none',stroke:COLORS[i%COLORS.length],'stroke-width':1.8,'stroke-dasharray':r.dash,'class':'series'},s);});
  legend(s,L+W+14,T+10,roles.map(function(r){return r.role;}));
  if(roles.length===0)txt(s,L+W/2,T+H/2,'no timeline recorded','middle');
}
function latency(R){
  var series=[];R.jobs.forEach(function(j){['read','write'].forEach(function(d){var c=j[d].clat_ns;if(c.N>0)series.push({name:j.jobname+' '+d,c:c});});});
  var w=960,h=320,L=60,T=28,W=w-L-210,H=h-T-50,s=frame('chart-latency',w,h,'Completion latency by percentile, reads and writes (log scales)');
  if(series.length===0){txt(s,w/2,h/2,'no latency recorded','middle');return;}
  var maxNs=1,minNs=Infinity;series.forEach(function(se){maxNs=Math.max(maxNs,se.c.max);minNs=Math.min(minNs,Math.max(1,se.c.min));});
  var lo=Math.floor(Math.log10(minNs)),hi=Math.ceil(Math.log10(maxNs));if(hi<=lo)hi=lo+1;
  var X=function(p){return L+W*Math.log10(1/(1-Math.min(p,99.999)/100))/5;},Y=function(ns){return T+H-H*(Math.log10(Math.max(ns,1))-lo)/(hi-lo);};
  el('line',{x1:L,y1:T+H,x2:L+W,y2:T+H,stroke:'#889'},s);el('line',{x1:L,y1:T,x2:L,y2:T+H,stroke:'#889'},s);
  ['0','90','99','99.9','99.99','99.999'].forEach(function(p,i){var x=L+W*i/5;el('line',{x1:x,y1:T,x2:x,y2:T+H,stroke:'#eef'},s);txt(s,x,T+H+14,p+'%','middle');});
  for(var e=lo;e<=hi;e++){var y=Y(Math.pow(10,e));var u=e>=9?Math.pow(10,e-9)+'s':e>=6?Math.pow(10,e-6)+'ms':e>=3?Math.pow(10,e-3)+'us':Math.pow(10,e)+'ns';txt(s,L-4,y+4,u,'end');el('line',{x1:L,y1:y,x2:L+W,y2:y,stroke:'#eef'},s);}
  txt(s,L+W/2,T+H+30,'percentile','middle');
  series.forEach(function(se,i){var pts=[[0,se.c.min]];Object.keys(se.c.percentile).map(Number).sort(function(a,b){return a-b;}).forEach(function(p){pts.push([p,se.c.percentile[p.toFixed(6)]]);});
    pts.push([100,se.c.max]);var d='';pts.forEach(function(q,k){d+=(k?'L':'M')+X(q[0]).toFixed(1)+' '+Y(q[1]).toFixed(1);});
    el('path',{d:d,fill:'none',stroke:COLORS[i%COLORS.length],'stroke-width':1.8,'class':'series'},s);});
  legend(s,L+W+14,T+10,series.map(function(x){return x.name;}));
}
function bars(id,title,rows,unit){
  var w=960,bh=18,T=28,L=200,W=w-L-260,h=T+Math.max(1,rows.length)*(bh+6)+20,s=frame(id,w,h,title);
  if(rows.length===0){txt(s,w/2,T+16,'none','middle');return;}
  var max=1;rows.forEach(function(r){max=Math.max(max,r.v);});
  rows.forEach(function(r,i){var y=T+i*(bh+6);txt(s,L-6,y+13,r.name,'end');
    el('rect',{x:L,y:y,width:Math.max(1,W*r.v/max),height:bh,fill:COLORS[i%COLORS.length],'class':'bar'},s);txt(s,L+W*r.v/max+6,y+13,r.label||(fmt(r.v)+unit));});
}
try{
  var R=JSON.parse(document.getElementById('report-data').textContent);
  throughput(R);latency(R);
  bars('chart-locks','Lock contention: total time waited per class (what contention cost)',R.locks.filter(function(l){return l.contended>0;}).sort(function(a,b){return b.waitUsTotal-a.waitUsTotal;}).slice(0,16).map(function(l){
    return {name:l.className+' ('+(l.run?l.run+', ':'')+l.kind+')',v:l.waitUsTotal,label:fmtUs(l.waitUsTotal)+' waited; '+(100*l.contended/l.acquisitions).toFixed(2)+'% of '+fmt(l.acquisitions)+' contended'};}),'');
  bars('chart-sleeps','Time asleep per wmesg',R.sleeps.slice(0,16).map(function(x){return {name:x.wmesg+(x.run?' ('+x.run+')':''),v:x.totalUs,label:fmtUs(x.totalUs)+', '+fmt(x.sleeps)+' sleeps'};}),'');
  document.body.setAttribute('data-charts',String(document.querySelectorAll('svg.chart').length));
}catch(e){document.body.setAttribute('data-error',String(e&&e.stack||e));var p=document.createElement('pre');p.textContent='chart error: '+e;document.body.appendChild(p);}
})();`;

/** The HTML page of a run report. */
export function renderHtml(r: RunReport): string {
  const m = r.machine;
  const jobRows = r.jobs.flatMap((j) => (['read', 'write'] as const).filter((d) => j[d].total_ios > 0).map((d) => dirRow(j.jobname, d, j[d])));
  const fair = r.jobs
    .filter((j) => (j.worker_ios?.length ?? 0) > 1)
    .map((j) => {
      const w = j.worker_ios!;
      const lo = Math.min(...w);
      const hi = Math.max(...w);
      return [j.jobname, w.length, n0(lo), n0(hi), hi > 0 ? (lo / hi).toFixed(2) : '-'];
    });
  const hits = r.jobs.flatMap((j) => Object.entries(j.hits ?? {}).map(([c, h]) => [j.jobname, c, `${(h.ratio * 100).toFixed(1)}%`, n0(h.hits), n0(h.misses)]));
  const locks = r.locks.map((l) => [
    rowName(l.className, l.run),
    l.kind,
    n0(l.locks),
    n0(l.acquisitions),
    l.acquisitions ? contendedPct(l.contended, l.acquisitions) : '-',
    n0(l.spins),
    n0(l.sleeps),
    l.contended ? humanUs(l.waitUsTotal / l.contended) : '-',
    l.contended ? humanUs(l.waitUsMax) : '-',
  ]);
  const sleeps = r.sleeps.map((s) => [rowName(s.wmesg, s.run), n0(s.sleeps), n0(s.wakeups), n0(s.timeouts), humanUs(s.totalUs), humanUs(s.maxUs)]);
  const devices = r.devices.map((d) => {
    const n = d.reads + d.writes;
    const p = (q: number) => (n ? `<${humanUs(serviceQuantileUs(d.serviceHistogram, q))}` : '-');
    return [d.name, n0(d.reads), n0(d.writes), humanBytes(d.bytesRead), humanBytes(d.bytesWritten), n ? humanUs(d.serviceUsTotal / n) : '-', p(0.5), p(0.99), deviceBacking(d)];
  });
  const tables = (r.tables ?? []).map((t) => `<h3>${esc(t.title)}</h3>${tableHtml(t.head, t.rows.map((row) => row.map((c) => (typeof c === 'number' ? n0(c) : c))), 'subsystem')}`);
  const checks = (r.checks ?? []).map((c) => `<li class="${c.ok ? 'ok' : 'bad'}">${c.ok ? 'ok' : 'FAILED'} — ${esc(c.name)}${c.detail ? `: ${esc(c.detail)}` : ''}</li>`);
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>kiolab ${esc(r.scenario)} report</title><style>${STYLE}</style></head>
<body>
<h1>kiolab bench ${esc(r.scenario)}</h1>
${r.partial ? `<p class="bad">PARTIAL REPORT: ${esc(r.partial.reason)} ${r.partial.afterS} s into the run; the figures cover what ran until then</p>` : ''}
<div class="meta">${esc(r.kiolab_version)} · ${esc(r.time)} · node ${esc(m.node)} · ${m.cpus} cpus on ${m.hostCores} host cores (${esc(m.hostCpuModel)}) · ${esc(m.platform)}/${esc(m.arch)}</div>
${r.switches?.length ? `<div class="meta">bug switches on: ${esc(r.switches.join(', '))}</div>` : ''}
<div class="meta">options: ${esc(Object.entries(r.options).filter(([, v]) => v !== undefined && v !== false && typeof v !== 'object').map(([k, v]) => `${k}=${v}`).join(' ') || 'defaults')}</div>
${r.summary?.length ? `<h2>Summary</h2><pre class="summary">${esc(r.summary.join('\n'))}</pre>` : ''}
${checks.length ? `<h2>Checks</h2><ul>${checks.join('')}</ul>` : ''}
${tables.length ? `<h2>${esc(r.scenario)}</h2>${tables.join('')}` : ''}
<h2>Jobs</h2>
${tableHtml(['job', 'dir', 'IOPS', 'bandwidth', 'ios', 'lat unit', 'min', 'mean', 'max', 'stdev', 'p50', 'p90', 'p99', 'p99.9'], jobRows, 'jobs')}
${fair.length ? `<h3>Ops per worker</h3>${tableHtml(['job', 'workers', 'min', 'max', 'min/max'], fair)}` : ''}
${hits.length ? `<h3>Cache hits</h3>${tableHtml(['job', 'cache', 'hit ratio', 'hits', 'misses'], hits)}` : ''}
<h2>Charts</h2>
<div class="charts"><div id="chart-throughput"></div><div id="chart-latency"></div><div id="chart-locks"></div><div id="chart-sleeps"></div></div>
${timeRows(r).length ? `<h2>Where the time goes (per role)</h2>${tableHtml(TIME_HEAD, timeRows(r), 'time')}` : ''}
<h2>Locks (per class)</h2>
${tableHtml(['class', 'kind', 'locks', 'acquisitions', 'contended', 'spins', 'sleeps', 'mean wait', 'max wait'], locks, 'locks')}
<h2>Sleeps (per wmesg)</h2>
${tableHtml(['wmesg', 'sleeps', 'wakeups', 'timeouts', 'total asleep', 'max asleep'], sleeps, 'sleeps')}
<h2>Devices</h2>
${tableHtml(['device', 'reads', 'writes', 'read', 'written', 'mean service', 'p50', 'p99', 'backing'], devices)}
${counters('sysctl', r.sysctl)}${counters('bootcache', r.bootcache)}${counters('uvmexp', r.uvmexp)}${Object.entries(r.counters ?? {})
    .map(([k, c]) => counters(k, c))
    .join('')}
${r.verdict ? `<p class="verdict ${r.verdict.pass ? 'ok' : 'bad'}" id="verdict">${esc(r.verdict.line)}</p>` : ''}
<script type="application/json" id="report-data">${scriptJson(r)}</script>
<script>${SCRIPT}</script>
</body></html>
`;
}

/** A plain page for a scenario whose report is not a RunReport (e.g. `primitives`). */
export function renderPlainHtml(title: string, text: string, report: unknown): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${STYLE} pre{background:#fff;border:1px solid #e0e2ea;padding:12px;overflow:auto}</style></head>
<body data-charts="0"><h1>${esc(title)}</h1><pre>${esc(text)}</pre><h2>JSON</h2><pre>${esc(JSON.stringify(report, null, 2))}</pre></body></html>
`;
}
