/** Every scenario and command of the kiolab command. */
import './cli-primitives.js';
import './cli-bootcache.js';
import './cli-bufcache.js';
import './cli-swap.js';
import './cli-race.js';
import './cli-mixed.js';
