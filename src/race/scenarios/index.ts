/** Every race scenario (workers/race.ts and the command import this). Add a subsystem's scenarios here. */
import './bio.js';
import './bootcache.js';
import './bufcache.js';
import './swap.js';
import './synthetic.js';
import './torture.js';
