/** Every scenario and command of the kiolab command. */
import './sysctl.js';
import './primitives.js';
import './bootcache.js';
import './bufcache.js';
import './swap.js';
import './race.js';
import './mixed.js';
import './campaign.js';
