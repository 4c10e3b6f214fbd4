/** The server's web app. */
import './style.css';
import { startApp } from './app.ts';

startApp({ jobs: true });
