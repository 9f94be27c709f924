/** Importing this module registers every subsystem's arena planner (main thread and workers alike). */
import './lab.js';
