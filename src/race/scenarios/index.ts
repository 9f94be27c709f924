/** Every race scenario (workers and the command import this). Add a subsystem's scenarios here. */
import './bio.js';
import './synthetic.js';
